"""A benchmark case: the frozen, validated identity of one measurement, with a stable readable id."""

from __future__ import annotations

import dataclasses
import math

from suite import budget, levers, optim
from suite.measure.devices import DEVICES
from suite.plumbing.errors import ConfigError, choices_error, shown
from suite.plumbing.fields import CaseField, check_int, check_number
from suite.workloads import keras_seed, models
from suite.workloads.data import DATASETS, EVAL_SPLITS
from suite.workloads.models import CONV_MODELS
from suite.workloads.plugins import SPEC_FORMS, is_spec

# What every case has, whatever its model and levers.
CORE_FIELDS = (
    CaseField("batch_size", "int", 64, "samples per training step (and per batched-inference call)"),
    CaseField("epochs", "int | None", 10, "the training budget in epochs (null under a steps budget)"),
    CaseField("dataset", "str", "digits", "the dataset, or a plug-in's package.module:loader", DATASETS),
    CaseField("device", "str", "cpu", "where the case runs", DEVICES),
    CaseField("seed", "int", 0, "seeds torch, NumPy and Python, and the batch order"),
    CaseField("target_accuracy", "float | None", None, "time-to-target is read off the history at this accuracy"),
    CaseField("eval_split", "str", "test", "validation: a tuning trial, the test split never loaded", EVAL_SPLITS),
)
# Every field in the order of a case's dict: each module declares the fields it adds (README, "How the code is
# laid out"); `tradeoff-bench list` prints them with their help.
DECLARED = (*models.FIELDS, *optim.OPTIMIZER_FIELDS, *CORE_FIELDS, *levers.FIELDS, *keras_seed.FIELDS,
            *models.OWN_FIELDS, *budget.FIELDS, *optim.RECIPE_FIELDS)
CHOICES = {field.name: field.choices for field in DECLARED if field.choices}


class CaseMethods:
    """The behaviour of `Case`, whose fields are the declared ones (DECLARED)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):  # any float field, present or future: inf and nan never reach a run
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"field {f.name!r} must be a finite number, got {shown(value)}")
        for name, registry in CHOICES.items():
            value = getattr(self, name)
            if value not in registry and not (name in SPEC_FORMS and is_spec(value)):  # model, dataset plug-ins
                raise choices_error(name, value, [*registry, *([SPEC_FORMS[name]] if name in SPEC_FORMS else [])])
        models.validate_family(self)
        optim.validate_optimizer(self)
        check_int(self, "batch_size", 1)
        budget.validate_budget(self)  # a steps budget sets epochs to null
        if self.steps is None:
            check_int(self, "epochs", 1)
        optim.validate_recipe(self)
        check_int(self, "seed", 0)
        if self.seed >= 2**32:
            raise ConfigError(f"field 'seed' must be < 2**32 (NumPy's seed range), got {shown(self.seed)}")
        levers.validate(self)
        keras_seed.validate(self)
        if self.target_accuracy is not None:
            check_number(self, "target_accuracy", positive=True)
            if self.target_accuracy > 1:
                raise ConfigError("field 'target_accuracy' must be a fraction in (0, 1], "
                                  f"got {shown(self.target_accuracy)}")

    @property
    def convolutional(self) -> bool:
        """Whether the model's FLOPs are convolutions (a conv family of suite.workloads.models)."""
        return self.model in CONV_MODELS

    @property
    def id(self) -> str:
        """Readable and stable: the same fields always give the same id."""
        recipe = optim.recipe_id_parts(self)
        parts = models.family_id_parts(self)
        parts += [self.optimizer, f"lr{self.lr:g}", *recipe["lr"], self.schedule, *recipe["schedule"]]
        parts += ([f"wd{self.weight_decay:g}"] if self.weight_decay else []) + recipe["wd"]
        parts += [self.dataset, self.device, f"b{self.batch_size}", budget.budget_id_part(self), f"s{self.seed}"]
        parts += budget.evaluation_id_parts(self)
        if self.target_accuracy is not None:
            parts.append(f"t{self.target_accuracy:g}")
        if self.eval_split != "test":
            parts.append("val")
        return "-".join(parts + levers.id_parts(self) + keras_seed.id_parts(self))

    def as_dict(self) -> dict:
        """The fields as plain values (what goes into extra_info["case"])."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> Case:
        """A validated copy with some fields changed."""
        return make_case({**self.as_dict(), **changes})


Case = dataclasses.make_dataclass(
    "Case", [(f.name, f.type, dataclasses.field(default=f.default)) for f in DECLARED], bases=(CaseMethods,),
    frozen=True, namespace={"__doc__": "One point of a plan: the frozen, validated fields that every module "
                                       "declares (DECLARED), with a stable readable id."})
Case.__module__ = __name__  # pickled by name (process executors, Ray)
FIELDS = {f.name: f for f in dataclasses.fields(Case)}


def make_case(fields: dict) -> Case:
    """A Case from a mapping, naming any key that is not a Case field and the valid ones."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown case field {shown(unknown[0])}; valid fields: {', '.join(FIELDS)}")
    return Case(**fields)


def parse_value(name: str, text: str):
    """A `--set field=value` string converted to the field's type."""
    if name not in FIELDS:
        raise ConfigError(f"unknown case field {shown(name)}; valid fields: {', '.join(FIELDS)}")
    kind = str(FIELDS[name].type)
    if "None" in kind and text.lower() in ("none", "null"):
        return None
    try:
        if "bool" in kind:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if "int" in kind:
            return int(text)
        if "float" in kind:
            return float(text)
    except ValueError:
        raise ConfigError(f"--set {name}={shown(text)}: expected {kind.split(' |')[0]}") from None
    return text
