"""A plan's plug-in models and datasets checked before anything runs (suite/workloads/plugins.py loads them)."""

from __future__ import annotations

from suite.workloads.data import LOADERS
from suite.workloads.data import load_dataset as load
from suite.workloads.models import BUILDERS
from suite.workloads.plugins import checked_module, resolve


def check_plugins(cases, data_dir=None, download: bool = False) -> None:
    """Before any training: load every plug-in dataset the cases name (checked), and import every plug-in
    model and call its factory with the first case that names it. A factory that raises here is left to
    the run, where it fails that case alone."""
    checked = set()
    for case in cases:
        if case.dataset not in LOADERS:
            load(case.dataset, data_dir, download)  # checked on loading, then cached
        if case.model in BUILDERS or case.model in checked:
            continue
        checked.add(case.model)
        factory = resolve("model", case.model)
        data = load(case.dataset, data_dir, download)
        try:
            model = factory(case, data.input_shape, data.num_classes)
        except Exception:  # reported by the run as that case's error, with the reason
            continue
        checked_module(case.model, model)
