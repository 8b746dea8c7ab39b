"""The validation's rows: one Check per thing compared, the rules that make it pass or fail, the printed
table and the JSON document. Imports no torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

STATUSES = ("pass", "fail", "skipped")
NO_CUDA = "no CUDA device"


@dataclass
class Check:
    """One row: what is compared, the measured values (shown), details (JSON only), status and reason."""

    name: str
    compares: str
    cuda: bool = True  # needs a CUDA device (skipped without one)
    status: str = "skipped"
    reason: str = ""
    values: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    traceback: str = ""

    def conclude(self, failures: list[str]) -> Check:
        """Pass when no rule failed, else fail with every failed rule as the reason."""
        self.status = "fail" if failures else "pass"
        self.reason = "; ".join(failures)
        return self

    def skip(self, reason: str) -> Check:
        """Skipped, with the reason."""
        self.status, self.reason = "skipped", reason
        return self


def ratio_rule(label: str, ratio: float, tolerance: float) -> list[str]:
    """[] when `ratio` (measured over reference) is within 1 +- tolerance, else the failure in words."""
    if not math.isfinite(ratio) or abs(ratio - 1) > tolerance:
        return [f"{label} ratio {ratio:.3f} is outside 1 +- {tolerance:g}"]
    return []


def value_text(value) -> str:
    """A measured value in a table cell: 4 significant digits, yes/no, '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def measured_text(values: dict) -> str:
    """`key=value` pairs of a check's values, in their order."""
    return ", ".join(f"{key}={value_text(value)}" for key, value in values.items())


def result_text(check: Check) -> str:
    """'pass', 'FAIL: why' or 'skipped: why'."""
    if check.status == "pass":
        return "pass"
    label = "FAIL" if check.status == "fail" else check.status
    return f"{label}: {check.reason}" if check.reason else label


def render_table(checks: list[Check], tablefmt: str = "github") -> str:
    """The table of checks: name, what it compares, the measured values and the result."""
    from tabulate import tabulate

    rows = [[c.name, c.compares, measured_text(c.values) or "-", result_text(c)] for c in checks]
    return tabulate(rows, headers=["check", "compares", "measured", "result"], tablefmt=tablefmt)


def counts(checks: list[Check]) -> dict:
    """How many checks ended with each status."""
    return {status: sum(c.status == status for c in checks) for status in STATUSES}


def plain(value):
    """`value` as strict JSON: non-finite floats become None, numpy scalars and tuples plain values, anything
    else its text (a measured value must never stop the table from being written)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy and torch scalars
        return plain(value.item())
    return str(value)


def document(checks: list[Check], meta: dict, environment: dict, lever_ratios: list[dict]) -> dict:
    """The JSON written under --out: the run's facts, the counts, every check, the lever ratios, the environment."""
    return plain({**meta, "counts": counts(checks), "checks": [asdict(c) for c in checks],
                  "lever_ratios": lever_ratios, "environment": environment})


EXIT_PASSED, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 3


def exit_code(checks: list[Check]) -> int:
    """0 when every check ran and passed, 1 when one failed, else 3 when one could not run (skipped: no CUDA,
    missing data, the budget spent). A skipped check is never a pass."""
    if any(c.status == "fail" for c in checks):
        return EXIT_FAILED
    return EXIT_NOT_RUN if any(c.status != "pass" for c in checks) else EXIT_PASSED
