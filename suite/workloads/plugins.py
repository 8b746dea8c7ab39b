"""Plug-in models and datasets: `package.module:attribute` names in a plan, and entry points.

A plan may name code of its own where a model or a dataset goes:

    model = "package.module:factory"     factory(case, input_shape, num_classes) -> torch.nn.Module
    dataset = "package.module:loader"    loader(data_dir) -> suite.workloads.data.Dataset

- `factory(case: suite.cases.Case, input_shape: tuple[int, ...], num_classes: int)` returns the untrained
  model on the CPU in fp32; it is called after the case's seeding, once per case (and once more, with the
  first case naming it, in the check before the run). It may read any case field (depth, width, shared, ...).
  `input_shape` is one sample's shape (the dataset's `x_train.shape[1:]`).
- `loader(data_dir: pathlib.Path | None)` returns a `suite.workloads.data.Dataset`; `data_dir` is `--data-dir` (or
  $TRADEOFF_BENCH_DATA), None when neither is given. It is called once per process. The dataset's `task`
  says what its tensors hold; TASK_CHECKS has the shapes each task must have.

An installed package can register short names instead, under the entry-point groups in GROUPS:

    [project.entry-points."tradeoff_bench.models"]
    my-net = "my_package.models:build"

The names join the MODELS and DATASETS registries (a built-in name always wins) and `tradeoff-bench list`
shows them with the package that provides them, without importing it. Naming a plug-in in a plan imports
and runs its code, as `pytest -p NAME` does; nothing else in a plan or a results file is ever executed.

Before any training, `check_plugins` imports every plug-in the cases name, loads and checks each plug-in
dataset and calls each plug-in factory once: a module that does not import, a missing attribute, something
not callable, a factory returning something other than an nn.Module and a dataset with tensors of the wrong
shapes are ConfigErrors (exit 2, one line naming the plug-in). A factory that raises is left to the run,
where that case ends with status `error` and the reason, and the other cases go on.
"""

from __future__ import annotations

import functools
import importlib
import re
from importlib import metadata

from suite.plumbing.errors import ConfigError
from suite.workloads.dataset import Dataset
from suite.workloads.text import check_language_model as check_text

GROUPS = {"model": "tradeoff_bench.models", "dataset": "tradeoff_bench.datasets"}
SPEC_FORMS = {"model": "package.module:factory", "dataset": "package.module:loader"}
_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
SPEC = re.compile(rf"{_NAME}:{_NAME}")


def is_spec(name) -> bool:
    """Whether `name` has the `package.module:attribute` form."""
    return isinstance(name, str) and SPEC.fullmatch(name) is not None


@functools.cache
def entry_points(kind: str) -> dict[str, metadata.EntryPoint]:
    """The installed entry points of `kind`'s group by name (the first one found where a name repeats)."""
    found = {}
    for ep in metadata.entry_points(group=GROUPS[kind]):
        found.setdefault(ep.name, ep)
    return found


def _provider(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "unknown package"


def registered(kind: str, exclude=()) -> dict[str, str]:
    """Registry entries for the entry points of `kind` whose names are not in `exclude` (the built-ins):
    name -> what it points to and which package provides it. Nothing is imported."""
    return {name: f"plug-in {ep.value} (package {_provider(ep)})"
            for name, ep in entry_points(kind).items() if name not in exclude}


def _target(kind: str, name: str) -> tuple[str, str, str]:
    """(label for messages, module, attribute) of an entry-point name or a module:attribute spec."""
    ep = entry_points(kind).get(name)
    if ep is None:
        module, _, attr = name.partition(":")
        return f"{kind} plug-in {name!r}", module, attr
    label = f"{kind} plug-in {name!r} (entry point {ep.value!r} of package {_provider(ep)})"
    if not ep.attr:
        raise ConfigError(f"{label}: expected module:attribute, got {ep.value!r}")
    return label, ep.module, ep.attr


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def resolve(kind: str, name: str):
    """The callable a plug-in name points to, its module imported; ConfigError naming the plug-in when the
    module does not import, lacks the attribute, or the attribute is not callable."""
    label, module_name, attr = _target(kind, name)
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module: ImportError, SyntaxError, what it raises
        raise ConfigError(f"{label}: module {module_name!r} does not import ({_first_line(exc)})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{label}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{label}: {attr!r} is a {type(obj).__name__}, expected a callable "
                          f"{SPEC_FORMS[kind].split(':')[1]}")
    return obj


def checked_module(name: str, model):
    """`model` when it is a torch.nn.Module, else a ConfigError naming the plug-in and what came back."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ConfigError(f"model plug-in {name!r}: the factory returned a {type(model).__name__}, "
                          "expected a torch.nn.Module")
    return model


def build_model(case, input_shape, num_classes: int):
    """The plug-in model a case names: its factory called with (case, input_shape, num_classes), checked."""
    return checked_module(case.model, resolve("model", case.model)(case, tuple(input_shape), num_classes))


def _shape(tensor) -> str:
    return str(tuple(tensor.shape))


def check_classification(data) -> str | None:
    """What is wrong with a classification dataset's tensors, or None: x_* floating (N, ...) with the same
    sample shape in both splits, y_* int64 (N,) class indices in [0, num_classes), num_classes >= 2."""
    import torch

    if isinstance(data.num_classes, bool) or not isinstance(data.num_classes, int) or data.num_classes < 2:
        return f"num_classes is {data.num_classes!r}, expected an integer >= 2"
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if x.ndim < 2 or len(x) == 0 or not x.is_floating_point():
            return f"x_{split} is {x.dtype} {_shape(x)}, expected a floating tensor (N, ...) with N >= 1"
        if x.shape[1:] != data.x_train.shape[1:]:
            return f"x_{split} has samples of shape {_shape(x[0])}, x_train of {_shape(data.x_train[0])}"
        if y.dtype != torch.int64 or y.shape != (len(x),):
            return f"y_{split} is {y.dtype} {_shape(y)}, expected int64 ({len(x)},): one class index per sample"
        if int(y.min()) < 0 or int(y.max()) >= data.num_classes:
            return f"y_{split} holds labels {int(y.min())}..{int(y.max())}, expected 0..{data.num_classes - 1}"
    return None


# task -> the check of its tensors (a task that another workload adds brings its own check here)
TASK_CHECKS = {"classification": check_classification, "language-modelling": check_text}


def checked_dataset(name: str, data):
    """`data` when it is a suite Dataset whose tensors fit its task, else a ConfigError naming the plug-in."""
    import torch


    label = f"dataset plug-in {name!r}"
    if not isinstance(data, Dataset):
        raise ConfigError(f"{label}: the loader returned a {type(data).__name__}, "
                          "expected a suite.workloads.data.Dataset")
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if not isinstance(getattr(data, key), torch.Tensor):
            raise ConfigError(f"{label}: {key} is a {type(getattr(data, key)).__name__}, expected a torch.Tensor")
    if data.task not in TASK_CHECKS:
        raise ConfigError(f"{label}: unknown task {data.task!r}; valid tasks: {', '.join(TASK_CHECKS)}")
    problem = TASK_CHECKS[data.task](data)
    if problem:
        raise ConfigError(f"{label}: {problem}")
    return data


def load_dataset(name: str, data_dir):
    """The plug-in dataset a name points to: its loader called with the data directory, its tensors checked;
    a loader that raises is a ConfigError too (the data is read before any training)."""
    loader = resolve("dataset", name)
    try:
        data = loader(data_dir)
    except Exception as exc:
        raise ConfigError(f"dataset plug-in {name!r}: the loader raised {_first_line(exc)}") from None
    return checked_dataset(name, data)
