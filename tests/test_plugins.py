"""Plug-in models and datasets named `module:attribute` in a plan: every bad kind is one line and exit 2 before
any training (both front ends), a factory raising at run time fails its case alone."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from suite import cli
from suite.cases import Case
from suite.plumbing.errors import ConfigError
from suite.results.schema import load_run
from suite.workloads import plugins
from suite.workloads.checks import check_plugins
from tests.conftest import REPO

GOOD_LOADER = """
import torch
from suite.workloads.data import Dataset

def load(data_dir):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 1, 4, 4, generator=g), torch.arange(96) % 3
    return Dataset("blobs", x[:64], y[:64], x[64:], y[64:], 3)
"""
BAD = {  # module source, plan fields, what the one-line error says
    "no_import": ("import no_such_module_anywhere\n", {"model": "{m}:factory"},
                  "model plug-in '{m}:factory': module '{m}' does not import (ModuleNotFoundError: No module named "
                  "'no_such_module_anywhere')"),
    "syntax": ("def factory(:\n", {"model": "{m}:factory"}, "module '{m}' does not import (SyntaxError: "),
    "no_attribute": ("x = 1\n", {"model": "{m}:factory"}, "model plug-in '{m}:factory': module '{m}' has no "
                     "attribute 'factory'"),
    "not_callable": ("factory = 3\n", {"model": "{m}:factory"}, "'factory' is a int, expected a callable factory"),
    "not_module": ("def factory(case, shape, classes):\n    return [shape, classes]\n", {"model": "{m}:factory"},
                   "model plug-in '{m}:factory': the factory returned a list, expected a torch.nn.Module"),
    "labels_shape": (GOOD_LOADER.replace("y[:64], x[64:]", "y[:64, None], x[64:]"), {"dataset": "{m}:load"},
                     "dataset plug-in '{m}:load': y_train is torch.int64 (64, 1), expected int64 (64,): one class "
                     "index per sample"),
    "sample_shape": (GOOD_LOADER.replace("x[64:], y[64:]", "x[64:, :, :2], y[64:]"), {"dataset": "{m}:load"},
                     "dataset plug-in '{m}:load': x_test has samples of shape (1, 2, 4), x_train of (1, 4, 4)"),
    "label_range": (GOOD_LOADER.replace("% 3", "% 4"), {"dataset": "{m}:load"},
                    "y_train holds labels 0..3, expected 0..2"),
    "not_dataset": ("def load(data_dir):\n    return {'x': 1}\n", {"dataset": "{m}:load"},
                    "dataset plug-in '{m}:load': the loader returned a dict, expected a suite.workloads.data.Dataset"),
}


def write_plugin(tmp_path, monkeypatch, name: str, source: str) -> str:
    """A module `plugin_<name>` importable from tmp_path; its name."""
    module = f"plugin_{name}"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    return module


def write_plan(tmp_path, fields: dict, matrix: str = "") -> str:
    base = {"model": "dense", "depth": 1, "width": 8, "epochs": 1, "dataset": "digits", **fields}
    lines = [f'{k} = {json.dumps(v)}' for k, v in base.items()]
    path = tmp_path / "plan.toml"
    path.write_text("[base]\n" + "\n".join(lines) + "\n" + matrix)
    return str(path)


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_plugin_is_one_line_and_exit_2_before_any_training(kind, tmp_path, monkeypatch, capsys):
    source, fields, message = BAD[kind]
    module = write_plugin(tmp_path, monkeypatch, kind, source)
    plan = write_plan(tmp_path, {k: v.format(m=module) for k, v in fields.items()})
    assert cli.main(["run", "--plan", plan, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tradeoff-bench: error: ")
    assert message.format(m=module) in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_pytest_front_end_refuses_a_bad_plugin_as_a_usage_error(tmp_path):
    (tmp_path / "plugin_pytest_bad.py").write_text(BAD["not_module"][0])
    plan = write_plan(tmp_path, {"model": "plugin_pytest_bad:factory"})
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_cases.py", "--plan", plan, "-q",
                           "-p", "no:cacheprovider"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}"})
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]  # pytest's usage-error exit code
    assert ("tradeoff-bench: model plug-in 'plugin_pytest_bad:factory': the factory returned a list, expected a "
            "torch.nn.Module") in proc.stderr


def test_a_factory_raising_at_run_time_fails_its_case_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    module = write_plugin(tmp_path, monkeypatch, "raising", GOOD_LOADER + textwrap.dedent("""
        from torch import nn

        def factory(case, input_shape, num_classes):
            if case.depth > 1:
                raise RuntimeError(f"no model for depth {case.depth}")
            return nn.Sequential(nn.Flatten(), nn.Linear(16, num_classes))
    """))
    plan = write_plan(tmp_path, {"model": f"{module}:factory", "dataset": f"{module}:load", "depth": 2},
                      "[matrix]\ndepth = [2, 1]\n")
    out = tmp_path / "out"
    assert cli.main(["run", "--plan", plan, "--out", str(out)]) == 1  # a case ended in error: exit 1
    raising, fine = sorted(load_run(out / "results.json").cases, key=lambda c: -c.case["depth"])
    assert (raising.status, raising.reason) == ("error", "RuntimeError: no model for depth 2")
    assert fine.status == "ok" and fine.metrics["params"] == 16 * 3 + 3  # measured after the failure
    assert "[2/2]" in capsys.readouterr().out


def test_plugin_names_are_accepted_by_form_and_bad_names_list_the_form():
    assert plugins.is_spec("pkg.mod:factory") and plugins.is_spec("m:Cls.build")
    assert not any(map(plugins.is_spec, ["pkg.mod", "pkg:", ":f", "a b:c", "pkg.mod:f:g", 3]))
    assert Case(model="pkg.mod:factory", dataset="pkg.data:load").id.startswith("pkg.mod:factory-d2-w32-")
    with pytest.raises(ConfigError, match="unknown model 'pkg.mod'; valid choices: dense, conv, seed-cnn, resnet"
                       ".*, package.module:factory$"):
        Case(model="pkg.mod")
    with pytest.raises(ConfigError, match="valid choices: .*synthetic.*, package.module:loader$"):
        Case(dataset="nope")


def test_plugin_dataset_and_model_run_in_process(tmp_path, monkeypatch):
    from suite.workloads.data import load_dataset
    from suite.workloads.models import build_model

    module = write_plugin(tmp_path, monkeypatch, "good", GOOD_LOADER + textwrap.dedent("""
        from torch import nn

        def factory(case, input_shape, num_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1] * input_shape[2],
                                                         num_classes))
    """))
    data = load_dataset(f"{module}:load")
    assert (data.input_shape, data.num_classes, data.task) == ((1, 4, 4), 3, "classification")
    case = Case(model=f"{module}:factory", dataset=f"{module}:load", memory_format="channels_last")
    model = build_model(case, data.input_shape, data.num_classes)
    assert model(data.x_test).shape == (32, 3)
    check_plugins([case])  # loads, builds and checks without complaint
