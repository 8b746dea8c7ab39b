"""Case fields as the module that adds one declares it (a workload, a lever, the optimizer recipe), and the checks
their validators share. suite/cases.py builds `Case` from these declarations."""

from __future__ import annotations

import math
from dataclasses import dataclass

from suite.plumbing.errors import ConfigError, shown


@dataclass(frozen=True)
class CaseField:
    """One field of a case: its name, its type as an annotation's text (`--set` parses a value by it), its default,
    one line of help (`tradeoff-bench list`), and its named choices where it has them (name -> description: any
    other value fails with the valid ones listed)."""

    name: str
    type: str
    default: object
    help: str
    choices: dict | None = None


def check_int(case, name: str, minimum: int) -> None:
    """ConfigError unless the field is an integer >= minimum (a bool is not an integer here)."""
    value = getattr(case, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"field {name!r} must be an integer >= {minimum}, got {shown(value)}")


def check_optional_int(case, name: str, minimum: int) -> None:
    """check_int for a field that may also be None (unset)."""
    if getattr(case, name) is not None:
        check_int(case, name, minimum)


def check_bool(case, name: str) -> None:
    """ConfigError unless the field is true or false."""
    if not isinstance(getattr(case, name), bool):
        raise ConfigError(f"field {name!r} must be true or false, got {shown(getattr(case, name))}")


def check_number(case, name: str, positive: bool) -> None:
    """A float field: a finite number (inf, nan and integers beyond float range would reach the journal and the
    results as values JSON cannot hold), > 0 or >= 0; stored as a float."""
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
