"""The report's levers section: what compression kept (accuracy, sparsity, size, latency before and after),
compile seconds apart from steady state, and data-parallel scaling efficiency. Imports no torch."""

from __future__ import annotations

from pathlib import Path

from suite.metrics import INFER_LATENCY_MS_P50, TEST_ACCURACY, VAL_LOSS
from suite.report.grouping import layout
from suite.report.hardware import mark, unsupported
from suite.report.sections import BUILDERS, Section

# key -> (column, how to show the stored value)
COLUMNS = {
    TEST_ACCURACY: ("test acc (%)", lambda v: f"{100 * v:.2f}"),
    "test_accuracy_uncompressed": ("before compression (%)", lambda v: f"{100 * v:.2f}"),
    "accuracy_kept": ("accuracy kept (%)", lambda v: f"{100 * v:.2f}"),
    "accuracy_kept_ge_99pct": (">= 99% of fp32 (MLPerf)", lambda v: "yes" if v else "no"),
    VAL_LOSS: ("val loss (nats/token)", lambda v: f"{v:.4f}"),
    "test_loss_uncompressed": ("loss before compression", lambda v: f"{v:.4f}"),
    "params_sparsity": ("weight sparsity (%)", lambda v: f"{100 * v:.1f}"),
    "params_nonzero": ("non-zero params", lambda v: f"{v:,.0f}"),
    "infer_latency_ms_p50_uncompressed": ("latency p50 before (ms)", lambda v: f"{v:.4f}"),
    INFER_LATENCY_MS_P50: ("latency p50 (ms)", lambda v: f"{v:.4f}"),
    "latency_ratio": ("latency after/before", lambda v: f"x{v:.2f}"),
    "params_state_dict_bytes": ("size (KiB)", lambda v: f"{v / 1024:,.1f}"),
    "compile_seconds_cold": ("train compile cold (s)", lambda v: f"{v:.2f}"),
    "compile_seconds_warm": ("train compile warm (s)", lambda v: f"{v:.2f}"),
    "infer_compile_seconds_cold": ("infer compile cold (s)", lambda v: f"{v:.2f}"),
    "infer_compile_seconds_warm": ("infer compile warm (s)", lambda v: f"{v:.2f}"),
    "scaling_efficiency": ("DDP scaling efficiency", lambda v: f"{v:.2f}"),
}
LEVER_KEYS = ("accuracy_kept", "compile_seconds_cold", "scaling_efficiency")


def lever_rows(run) -> list[dict]:
    """One dict per case that used a lever with figures of its own (compression, compile, DDP), the case named
    as the report names it (grouping.Layout.member_label)."""
    lay = layout(run)
    rows = []
    for case in run.cases:
        m = dict(case.metrics)
        if not any(m.get(k) is not None for k in LEVER_KEYS):
            continue
        if m.get("infer_latency_ms_p50_uncompressed") and m.get(INFER_LATENCY_MS_P50):
            m["latency_ratio"] = m[INFER_LATENCY_MS_P50] / m["infer_latency_ms_p50_uncompressed"]
        rows.append({"case": lay.member_label(case) + mark(unsupported(case, run)), **{k: m.get(k) for k in COLUMNS}})
    return rows


def unstructured_notes(run) -> list[str]:
    """For each unstructured-pruned case, the measured latency change: zeros in dense tensors are still
    multiplied, so a speedup is not expected and the figure says whether one appeared."""
    notes = []
    for case in run.cases:
        m, spec = case.metrics, str(case.case.get("pruning", "none"))
        if spec.startswith("l1-unstructured") and m.get("infer_latency_ms_p50_uncompressed"):
            ratio = m[INFER_LATENCY_MS_P50] / m["infer_latency_ms_p50_uncompressed"]
            notes.append(f"{spec}: {100 * m['params_sparsity']:.1f}% of weights are zero and batch-1 latency is "
                         f"x{ratio:.2f} of the unpruned model's (dense kernels multiply the zeros too).")
    return notes


def lever_sections(run, out_dir: Path) -> list[Section]:
    """The levers section, or none when no case has lever figures."""
    import pandas as pd

    rows = lever_rows(run)
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    keep = ["case"] + [k for k in COLUMNS if frame[k].notna().any()]
    table = frame[keep].copy()
    for key in keep[1:]:
        table[key] = [COLUMNS[key][1](v) if v is not None and v == v else "-" for v in table[key]]
    table = table.rename(columns={k: COLUMNS[k][0] for k in keep[1:]})
    paragraphs = [
        "Accuracy kept = compressed / uncompressed test accuracy of the same trained model; the flag is MLPerf "
        "Inference's quality target (99% of the FP32 reference). Compile seconds are the first call of a freshly "
        "compiled callable: cold with empty inductor caches, warm with the on-disk cache the cold compile filled; "
        "they are excluded from the steady-state throughput and latency. Scaling efficiency = throughput at N "
        "ranks / (N x throughput of one rank)."] + unstructured_notes(run)
    return [Section("Acceleration levers: compression, compile time, data-parallel scaling", paragraphs, [table])]


BUILDERS.append(lever_sections)
