"""A benchmark case: the frozen, validated identity of one measurement, with a stable readable id."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from suite import budget
from suite.levers import LEVER_CHOICES, id_parts, validate
from suite.measure.devices import DEVICES
from suite.optim import OPTIMIZERS, SCHEDULES, recipe_id_parts, validate_recipe
from suite.plumbing.errors import ConfigError, choices_error, shown
from suite.workloads import keras_seed, transformer
from suite.workloads.data import DATASETS, EVAL_SPLITS
from suite.workloads.models import CONV_MODELS, MODELS
from suite.workloads.plugins import SPEC_FORMS, is_spec
from suite.workloads.text import TEXT_DATASETS

# Fields that only the dense and conv families have; seed-cnn fixes its own architecture.
FAMILY_FIELDS = ("depth", "width", "shared")
CHOICES = {
    "model": MODELS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "dataset": DATASETS,
    "device": DEVICES,
    "eval_split": EVAL_SPLITS,
    "framework": keras_seed.FRAMEWORKS,
    **LEVER_CHOICES,  # precision, compile, memory_format, quantization, matmul_precision, runtime, allocator, omp_bind
}


@dataclass(frozen=True)
class Case:
    """One point of a plan. A new axis is one field here (plus a registry in CHOICES)."""

    model: str = "conv"
    depth: int | None = 2  # repeated width->width layers (dense) or conv blocks (conv) after the input stem
    width: int | None = 32
    shared: bool | None = False
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's default learning rate
    schedule: str = "constant"
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    dataset: str = "digits"
    device: str = "cpu"
    seed: int = 0
    target_accuracy: float | None = None  # time-to-target is read off the history at this accuracy
    eval_split: str = "test"  # "validation": a tuning trial, the test split never loaded
    # Acceleration levers (suite/levers.py); at their defaults they add nothing to the id.
    precision: str = "fp32"
    compile: str = "none"
    memory_format: str = "contiguous"
    quantization: str = "none"
    pruning: str = "none"  # METHOD:SPARSITY, e.g. l1-unstructured:0.5
    finetune_epochs: int | None = None  # after pruning (1 when pruning and unset)
    threads: int | None = None  # CPU intra-op threads; None: torch's default
    world_size: int = 1  # data-parallel ranks (DistributedDataParallel)
    deterministic: bool = False  # torch.use_deterministic_algorithms(True) for the case: a lever with a cost
    matmul_precision: str = "highest"  # "high": TF32 for float32 matmuls on CUDA, set for the case and restored
    fused: bool = False  # adam/adamw: torch.optim's fused implementation
    runtime: str = "torch"  # inference runtime: torch | onnxruntime | openvino (suite/levers/runtime.py)
    # Environment levers (suite/levers/environment.py): a case that sets one runs in a process of its own.
    allocator: str = "glibc"  # glibc | jemalloc | tcmalloc (LD_PRELOAD)
    omp_bind: str = "none"  # none | close | spread (OMP_PROC_BIND, OMP_PLACES=cores)
    interop_threads: int | None = None  # torch.set_num_interop_threads; None: torch's default
    framework: str = "torch"  # keras-torch | keras-tensorflow: the seed's Keras model (suite/workloads/keras_seed.py)
    # The transformer family (suite/workloads/transformer.py); null for every other model.
    heads: int | None = None  # attention heads (width must be a multiple)
    context: int | None = None  # sequence length in tokens
    bias: bool | None = None  # biases in Linear and LayerNorm layers
    tie_head: bool | None = None  # output head weight = token embedding
    dropout: float | None = None
    # Training-recipe fields (suite/budget.py, suite/optim.py); at their defaults they add nothing to the id.
    steps: int | None = None  # a budget of optimizer steps instead of epochs (epochs is then null)
    eval_interval: int | None = None  # steps between held-out evaluations (steps budget; unset: after the last)
    eval_batches: int | None = None  # held-out evaluation on this many batches (unset: the whole split)
    beta2: float | None = None  # Adam's second-moment coefficient (adam, adamw; unset: torch's 0.999)
    decay_2d_only: bool = False  # weight decay on tensors of 2+ dimensions only (no biases, norms)
    grad_clip: float | None = None  # clip the gradients' global norm to this
    warmup_steps: int | None = None  # warmup-cosine: linear warm-up steps (default 0)
    min_lr: float | None = None  # warmup-cosine: the floor the cosine decays to (default lr / 10)
    target_val_loss: float | None = None  # time-to-target is read off the history at this held-out loss

    def __post_init__(self):
        for f in dataclasses.fields(self):  # any float field, present or future: inf and nan never reach a run
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"field {f.name!r} must be a finite number, got {shown(value)}")
        for name, registry in CHOICES.items():
            value = getattr(self, name)
            if value not in registry and not (name in SPEC_FORMS and is_spec(value)):  # model, dataset plug-ins
                raise choices_error(name, value, [*registry, *([SPEC_FORMS[name]] if name in SPEC_FORMS else [])])
        if self.model == "seed-cnn":
            for name in FAMILY_FIELDS:
                object.__setattr__(self, name, None)
        else:
            _check_int(self, "depth", 1)
            _check_int(self, "width", 1)
            if not isinstance(self.shared, bool):
                raise ConfigError(f"field 'shared' must be true or false, got {shown(self.shared)}")
            if self.shared and self.depth < 2:
                raise ConfigError("shared=true needs depth >= 2 (one repeated block has nothing to share with)")
        if self.lr is None:
            object.__setattr__(self, "lr", OPTIMIZERS[self.optimizer].default_lr)
        _check_number(self, "lr", positive=True)
        _check_number(self, "weight_decay", positive=False)
        _check_int(self, "batch_size", 1)
        budget.validate_budget(self)  # a steps budget sets epochs to null
        if self.steps is None:
            _check_int(self, "epochs", 1)
        validate_recipe(self)
        transformer.validate(self, TEXT_DATASETS)
        _check_int(self, "seed", 0)
        if self.seed >= 2**32:
            raise ConfigError(f"field 'seed' must be < 2**32 (NumPy's seed range), got {shown(self.seed)}")
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"field 'deterministic' must be true or false, got {shown(self.deterministic)}")
        validate(self)
        keras_seed.validate(self)
        if self.target_accuracy is not None:
            _check_number(self, "target_accuracy", positive=True)
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
        parts = [self.model]
        if self.model != "seed-cnn":
            parts += [f"d{self.depth}", f"w{self.width}"] + (["shared"] if self.shared else [])
        recipe = recipe_id_parts(self)
        parts += transformer.id_parts(self) + [self.optimizer, f"lr{self.lr:g}", *recipe["lr"], self.schedule]
        parts += recipe["schedule"]
        if self.weight_decay:
            parts.append(f"wd{self.weight_decay:g}")
        parts += recipe["wd"]
        parts += [self.dataset, self.device, f"b{self.batch_size}", budget.budget_id_part(self), f"s{self.seed}"]
        parts += budget.evaluation_id_parts(self)
        if self.target_accuracy is not None:
            parts.append(f"t{self.target_accuracy:g}")
        if self.eval_split != "test":
            parts.append("val")
        parts += id_parts(self) + (["det"] if self.deterministic else [])
        return "-".join(parts + keras_seed.id_parts(self))

    def as_dict(self) -> dict:
        """The fields as plain values (what goes into extra_info["case"])."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> Case:
        """A validated copy with some fields changed."""
        return make_case({**self.as_dict(), **changes})


FIELDS = {f.name: f for f in dataclasses.fields(Case)}


def _check_int(case, name, minimum):
    value = getattr(case, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"field {name!r} must be an integer >= {minimum}, got {shown(value)}")


def _check_number(case, name, positive):
    """A float field: a finite number (inf, nan and integers beyond float range would reach the journal and
    the results as values JSON cannot hold), > 0 or >= 0; stored as a float."""
    value = getattr(case, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"field {name!r} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"field {name!r} must be a finite number, got {shown(value)}")
    if number < 0 or (positive and number == 0):
        raise ConfigError(f"field {name!r} must be {'> 0' if positive else '>= 0'}, got {shown(value)}")
    object.__setattr__(case, name, number)


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
