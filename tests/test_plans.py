import re

import pytest

from suite.plans import expand_plan, load_plan, plan_names
from suite.plumbing.errors import ConfigError


def test_shipped_plans_expand():
    assert {"quick", "default", "full"} <= set(plan_names())
    assert all(load_plan(name).cases for name in plan_names())  # every shipped plan expands to valid cases
    assert len(load_plan("quick").cases) == 8


def test_default_plan_crosses_the_required_axes():
    plan = load_plan("default")
    matrix = [c for c in plan.cases if c.schedule == "constant" and c.weight_decay == 0 and c.device == "cpu"]
    # dense/conv x (depth 1 unshared + depth 2, 4 shared or not) x 6 optimizers
    assert len({c.id for c in matrix}) == 2 * 5 * 6
    assert {c.schedule for c in plan.cases} == {"constant", "exponential", "step", "cosine"}
    assert {c.weight_decay for c in plan.cases} == {0.0, 1e-4}
    assert {c.optimizer for c in plan.cases} == {"gd", "sgd", "momentum", "adagrad", "rmsprop", "adam"}
    assert plan.cases[0] == plan.base


def test_matrix_sweep_and_exclude():
    doc = {"base": {"model": "dense", "epochs": 1},
           "matrix": {"depth": [1, 2], "shared": [False, True]},
           "sweep": {"optimizer": ["sgd", "adam"]},
           "exclude": [{"depth": 1, "shared": True}]}
    plan = expand_plan(doc, "t")
    ids = [c.id for c in plan.cases]
    assert len(ids) == len(set(ids)) == 4  # base(d2) ... d1, d2, d2-shared, + sgd sweep; adam = base
    assert any("-sgd-" in i for i in ids)
    assert not any(c.depth == 1 and c.shared for c in plan.cases)


def test_overrides_replace_base_fields():
    plan = load_plan("quick", {"epochs": 1, "width": 8})
    assert all(c.epochs == 1 for c in plan.cases)
    assert all(c.width == 8 for c in plan.cases)


@pytest.mark.parametrize("doc, message", [
    ({"bases": {}}, "unknown key 'bases'; valid keys: description, base, matrix, sweep, exclude"),
    ({"matrix": {"layers": [1]}}, "key 'layers' is not a case field; valid fields: model"),
    ({"matrix": {"depth": 3}}, "depth must be a non-empty list"),
    ({"base": {"optimizer": "lion"}}, "unknown optimizer 'lion'; valid choices"),
    ({"matrix": {"depth": [0]}}, "'depth' must be an integer >= 1"),
    ({"exclude": [{"colour": 1}]}, "each [[exclude]] must be a table of case fields"),
])
def test_bad_plans_name_the_problem(doc, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        expand_plan(doc, "bad")


def test_unknown_plan_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="unknown plan .nope.; valid plans: .*default.*quick"):
        load_plan("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[base\nmodel = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_plan(str(bad))


def test_levers_plan_takes_mnist_when_a_data_dir_is_given(mnist_dir, monkeypatch):
    monkeypatch.delenv("TRADEOFF_BENCH_DATA", raising=False)
    assert {c.dataset for c in load_plan("levers").cases} == {"digits"}
    assert {c.dataset for c in load_plan("levers", data_dir=mnist_dir).cases} == {"mnist"}
    assert {c.dataset for c in load_plan("levers", {"dataset": "digits"}, mnist_dir).cases} == {"digits"}


def test_dataset_with_data_dir_must_name_a_dataset(tmp_path):
    plan = tmp_path / "p.toml"
    plan.write_text('dataset_with_data_dir = "cifar"\n[base]\nmodel = "dense"\n')
    with pytest.raises(ConfigError, match="dataset_with_data_dir 'cifar'; valid choices: digits, mnist"):
        load_plan(str(plan), data_dir=tmp_path)
