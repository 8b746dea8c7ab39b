"""The report's deployment section: each runtime (PyTorch, ONNX Runtime, OpenVINO) and its int8, with accuracy,
batch-1 latency, batched throughput and the model file the runtime loads; and a latency-vs-accuracy plot whose
marker area is the model file size. Imports no torch."""

from __future__ import annotations

from pathlib import Path

from suite.metrics import (
    INFER_LATENCY_MS_P50,
    INFER_LATENCY_MS_P99,
    INFER_LATENCY_SAMPLES,
    INFER_RATE,
    MODEL_FILE_BYTES,
    TEST_ACCURACY,
)
from suite.report.grouping import layout
from suite.report.plots import new_figure, plain_text, save
from suite.report.sections import BUILDERS, Section

# key -> (column, how to show the stored value)
COLUMNS = {
    TEST_ACCURACY: ("test acc (%)", lambda v: f"{100 * v:.2f}"),
    "accuracy_change_pp": ("vs same runtime fp32 (pp)", lambda v: f"{v:+.2f}"),
    "export_top1_agreement": ("top-1 = PyTorch (%)", lambda v: f"{100 * v:.2f}"),
    "export_max_abs_diff": ("max |logit diff|", lambda v: f"{v:.2g}"),
    INFER_LATENCY_MS_P50: ("latency p50 (ms)", lambda v: f"{v:.4f}"),
    INFER_LATENCY_MS_P99: ("p99 (ms)", lambda v: f"{v:.4f}"),
    INFER_LATENCY_SAMPLES: ("calls", lambda v: f"{v:,.0f}"),
    INFER_RATE: ("batched (samples/s)", lambda v: f"{v:,.0f}"),
    MODEL_FILE_BYTES: ("model file (KiB)", lambda v: f"{v / 1024:,.1f}"),
    "runtime_threads": ("threads", lambda v: f"{v:.0f}"),
}


def deployment_rows(run) -> list[dict]:
    """One dict per ok case of a run that has a case of a runtime other than torch: none otherwise."""
    if not any(case.case.get("runtime", "torch") != "torch" for case in run.cases):
        return []
    lay = layout(run)
    return [{"case": lay.member_label(case), "runtime": case.case.get("runtime", "torch"),
             "quantization": case.case.get("quantization", "none"), **{k: case.metrics.get(k) for k in COLUMNS}}
            for case in run.cases if case.status == "ok" and case.metrics.get(MODEL_FILE_BYTES)]


def deployment_plot(rows: list[dict], out_dir: Path) -> Path:
    """Batch-1 latency p50 against test accuracy, one marker per case, its area proportional to the file size."""
    largest = max(r[MODEL_FILE_BYTES] for r in rows)
    with plain_text():
        fig, ax = new_figure()
        for runtime in dict.fromkeys(r["runtime"] for r in rows):
            mine = [r for r in rows if r["runtime"] == runtime]
            ax.scatter([r[INFER_LATENCY_MS_P50] for r in mine], [100 * r[TEST_ACCURACY] for r in mine],
                       s=[400 * r[MODEL_FILE_BYTES] / largest for r in mine], alpha=0.6, label=runtime)
            for r in mine:
                ax.annotate(r["quantization"], (r[INFER_LATENCY_MS_P50], 100 * r[TEST_ACCURACY]), fontsize=7)
        ax.set_xlabel("batch-1 latency p50 (ms)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"Deployment: marker area = model file size (largest {largest / 1024:,.0f} KiB)")
        ax.legend()
        return save(fig, out_dir, "deployment")


def deployment_sections(run, out_dir: Path) -> list[Section]:
    """The deployment section, or none when every case ran in PyTorch."""
    import pandas as pd

    rows = deployment_rows(run)
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    keep = ["case", "runtime", "quantization"] + [k for k in COLUMNS if frame[k].notna().any()]
    table = frame[keep].copy()
    for key in keep[3:]:
        table[key] = [COLUMNS[key][1](v) if v is not None and v == v else "-" for v in table[key]]
    table = table.rename(columns={k: COLUMNS[k][0] for k in keep[3:]})
    figures = [deployment_plot(rows, out_dir)] if all(r[INFER_LATENCY_MS_P50] for r in rows) else []
    paragraphs = [
        "Each case trains its model, then serves it in its runtime: PyTorch eager, or the model exported once to "
        "ONNX (torch.onnx's dynamo exporter) and run by ONNX Runtime (CPU execution provider, all graph "
        "optimizations) or converted to OpenVINO IR (CPU plugin, f32 inference precision). int8 is each runtime's "
        "own flow (torch.ao, onnxruntime.quantization, NNCF), calibrated on training batches; its accuracy change "
        "is against the same runtime's fp32 model. Top-1 agreement and the largest logit difference compare the "
        "runtime's fp32 model with PyTorch's on the test split. The model file is what the runtime loads: the "
        "ONNX file, the IR (xml + bin), or torch.save(state_dict). Every runtime runs with the threads shown, set "
        "in its own option; warm-up calls are excluded; all see the same inputs."]
    return [Section("Deployment: inference runtimes and their int8", paragraphs, [table], figures)]


BUILDERS.append(deployment_sections)
