import pytest

from suite.cases import Case, make_case, parse_value
from suite.plumbing.errors import ConfigError


def test_id_is_readable_and_stable():
    case = Case(model="conv", depth=3, width=32, shared=True, optimizer="adam", schedule="step")
    assert case.id == "conv-d3-w32-shared-adam-lr0.001-step-digits-cpu-b64-e10-s0"
    assert Case(model="conv", depth=3, width=32, shared=True, optimizer="adam", schedule="step").id == case.id


def test_id_names_weight_decay_only_when_set():
    assert "wd" not in Case().id
    assert "-wd0.0001-" in Case(weight_decay=1e-4).id


def test_lr_defaults_per_optimizer_and_can_be_set():
    assert Case(optimizer="sgd").lr == 0.05
    assert Case(optimizer="adam").lr == 1e-3
    assert Case(optimizer="sgd", lr=0.2).lr == 0.2


def test_seed_cnn_drops_family_fields():
    case = Case(model="seed-cnn", depth=4, width=8, shared=True)
    assert (case.depth, case.width, case.shared) == (None, None, None)
    assert case.id.startswith("seed-cnn-adam-")


@pytest.mark.parametrize("field, value, message", [
    ("model", "mlp", "valid choices: dense, conv, seed-cnn"),
    ("optimizer", "lion", "valid choices: gd, sgd, momentum"),
    ("schedule", "linear", "valid choices: constant, exponential, step, cosine"),
    ("dataset", "cifar", "valid choices: digits, mnist"),
    ("device", "tpu", "valid choices: cpu, cuda, mps, xla"),
    ("depth", 0, "'depth' must be an integer >= 1"),
    ("lr", -0.1, "'lr' must be > 0"),
    ("weight_decay", -1.0, "'weight_decay' must be >= 0"),
    ("batch_size", 0, "'batch_size' must be an integer >= 1"),
    ("shared", "yes", "'shared' must be true or false"),
])
def test_bad_field_names_the_valid_choices(field, value, message):
    with pytest.raises(ConfigError, match=message):
        make_case({field: value})


def test_shared_needs_two_blocks():
    with pytest.raises(ConfigError, match="shared=true needs depth >= 2"):
        Case(depth=1, shared=True)


def test_unknown_field_lists_fields():
    with pytest.raises(ConfigError, match="unknown case field 'layers'; valid fields: model, depth"):
        make_case({"layers": 3})


def test_parse_value_converts_to_the_field_type():
    assert parse_value("depth", "4") == 4
    assert parse_value("lr", "0.01") == 0.01
    assert parse_value("shared", "true") is True
    assert parse_value("model", "dense") == "dense"
    with pytest.raises(ConfigError, match="expected int"):
        parse_value("depth", "four")
