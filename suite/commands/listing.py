"""`tradeoff-bench list`: every case field, model, optimizer, schedule, dataset, framework, device, lever and plan,
one line each."""

from __future__ import annotations


def cmd_list(args) -> int:
    from suite.cases import DECLARED
    from suite.levers import LEVER_CHOICES
    from suite.levers.compression import PRUNING_METHODS
    from suite.measure.devices import DEVICES, availability
    from suite.optim import OPTIMIZERS, SCHEDULES
    from suite.plans import load_plan, plan_names
    from suite.workloads.data import DATASETS
    from suite.workloads.keras_seed import FRAMEWORKS
    from suite.workloads.models import MODELS

    sections = {
        "fields": {f.name: f.help + ("" if f.default is None else f" (default {f.default})") for f in DECLARED},
        "models": MODELS,
        "optimizers": {k: f"{v.description} (default lr {v.default_lr:g})" for k, v in OPTIMIZERS.items()},
        "schedules": {k: v[0] for k, v in SCHEDULES.items()},
        "datasets": DATASETS,
        "framework": FRAMEWORKS,
        "devices": {k: v + ("" if availability(k)[0] else f" [absent: {availability(k)[1]}]")
                    for k, v in DEVICES.items()},
        **{name: dict(registry) for name, registry in LEVER_CHOICES.items()},
        "pruning": PRUNING_METHODS,
        "plans": {plan.name: f"{len(plan.cases)} cases: {plan.description}"
                  for plan in map(load_plan, plan_names())},
    }
    for title, entries in sections.items():
        print(f"{title}:")
        for name, text in entries.items():
            print(f"  {name:<16} {text}")
    return 0


def register(sub) -> None:
    """Add the `list` subcommand."""
    sub.add_parser("list", help="list case fields, models, optimizers, schedules, datasets, devices, levers, "
                                "plans").set_defaults(func=cmd_list)
