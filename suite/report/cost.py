"""The report's cost section: the measured compute ceilings, MFU per case (plot), peak memory and energy (table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from suite.metrics import (
    INFER_JOULES_PER_SAMPLE,
    INFER_MFU,
    INFER_PEAK_MEM_MB,
    TRAIN_JOULES_PER_SAMPLE,
    TRAIN_MFU,
    TRAIN_PEAK_MEM_MB,
    show,
)
from suite.report.grouping import layout
from suite.report.plots import new_figure, save
from suite.report.sections import BUILDERS, Section

MFU_KEYS = {TRAIN_MFU: "train", INFER_MFU: "inference"}
COST_COLUMNS = {
    TRAIN_MFU: "train MFU (%)",
    INFER_MFU: "infer MFU (%)",
    TRAIN_PEAK_MEM_MB: "train peak mem (MiB)",
    INFER_PEAK_MEM_MB: "infer peak mem (MiB)",
    TRAIN_JOULES_PER_SAMPLE: "train J/sample",
    INFER_JOULES_PER_SAMPLE: "infer J/sample",
}
PERCENT = (TRAIN_MFU, INFER_MFU)
MFU_PLOT_ENDS = 20  # cases shown from each end of the MFU ranking when there are more than twice as many
FIGURE = "mfu"  # plots/mfu.png and plots/mfu.svg
MFU_LABEL_PT = 10  # case labels of the MFU plot: 10 pt is 14 px at 100 dpi (7 pt read as about 7 px once scaled)


def ceiling_sentence(name: str, c: dict) -> str:
    """One measured ceiling: its rate, spread, method, threads and date, flagged when its rounds were noisy."""
    noisy = " NOISY: its IQR is over 10% of its median" if c.get("noisy") else ""
    return (f"Ceiling {name}: {c['flops_per_s'] / 1e9:,.1f} GFLOP/s (IQR {c.get('flops_per_s_iqr', 0) / 1e9:,.2f}; "
            f"{c.get('method', 'method not recorded')}; {c.get('torch_threads', '?')} threads, "
            f"measured {c.get('measured_at', '?')}).{noisy}")


def ceiling_paragraphs(run) -> list[str]:
    """One sentence per measured ceiling in the run's environment block."""
    ceilings = run.machine_info.get("tradeoff_bench", {}).get("compute_ceilings", {})
    if not ceilings:
        return ["No compute ceiling in this run's environment block: MFU cannot be computed."]
    return [ceiling_sentence(name, c) for name, c in sorted(ceilings.items())]


def cost_frame(run):
    """Cases by row, named as the report names them (grouping.Layout.member_label), and the cost metrics by column
    (NaN where a case has no figure)."""
    lay = layout(run)
    frame = pd.DataFrame(run.rows(), index=pd.Index([lay.member_label(c) for c in run.cases], name="case"))
    return frame.reindex(columns=[*COST_COLUMNS, *(f"{k}_reason" for k in COST_COLUMNS if "joules" in k)])


def mfu_frame(run):
    """MFU in percent of the ceiling, one row per case that has one, lowest training MFU first."""
    frame = cost_frame(run)[list(MFU_KEYS)].dropna(how="all") * 100
    return frame.sort_values(TRAIN_MFU, na_position="first")


def plot_mfu(frame, out: Path) -> Path:
    """Horizontal bars of train and inference MFU per case (PNG and SVG under OUT/plots/): the short
    bars leave the machine idle."""
    fig, ax = new_figure(10, 1.2 + 0.42 * len(frame))  # 10 pt labels: 14 px at the report's 100 dpi
    positions = range(len(frame))
    for offset, (key, label) in zip((-0.2, 0.2), MFU_KEYS.items()):
        ax.barh([p + offset for p in positions], frame[key].fillna(0), height=0.4, label=label)
    ax.set_yticks(list(positions), frame.index, fontsize=MFU_LABEL_PT)
    ax.set_xlabel("MFU (% of the measured matmul ceiling)")
    ax.legend(loc="lower right")
    return save(fig, out, FIGURE)


def _cell(value, key: str) -> str:
    """MFU in % with two decimals; memory and energy as the other tables print them ("< resolution" under 1 MiB)."""
    if value != value:  # NaN: absent
        return "-"
    return f"{value * 100:.2f}" if key in PERCENT else show(key, value)


def absent_energy_paragraphs(frame) -> list[str]:
    """Why energy is absent, one line per distinct reason with the number of rows."""
    lines = []
    for key in (TRAIN_JOULES_PER_SAMPLE, INFER_JOULES_PER_SAMPLE):
        counts = frame[f"{key}_reason"].dropna().value_counts()
        lines += [f"{key} absent in {n} rows: {reason}" for reason, n in counts.items()]
    return lines


def cost_sections(run, out_dir: Path) -> list[Section]:
    """The cost section: ceilings, the MFU plot, the memory/energy table, and why energy is absent."""
    if not run.cases:
        return []
    frame = cost_frame(run)
    if frame[list(COST_COLUMNS)].isna().all().all():
        return []
    table = frame[list(COST_COLUMNS)].copy()
    for key in COST_COLUMNS:
        table[key] = [_cell(v, key) for v in table[key]]
    table = table.rename(columns=COST_COLUMNS).reset_index()
    paragraphs = ceiling_paragraphs(run) + [
        "MFU = model FLOPs per sample x samples/s / measured ceiling (PaLM, arXiv:2204.02311, appendix B); "
        "peak memory is above what was resident when the measured region began; energy comes from hardware "
        "counters only."] + absent_energy_paragraphs(frame)
    mfu = mfu_frame(run)
    if len(mfu) > 2 * MFU_PLOT_ENDS:  # a bar per case stops being readable: keep both ends of the ranking
        paragraphs.append(f"The MFU plot shows the {MFU_PLOT_ENDS} cases with the lowest and the {MFU_PLOT_ENDS} "
                          f"with the highest training MFU of {len(mfu)}; the table lists every case.")
        mfu = pd.concat([mfu.head(MFU_PLOT_ENDS), mfu.tail(MFU_PLOT_ENDS)])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    figures = [plot_mfu(mfu, Path(out_dir))] if len(mfu) else []
    return [Section("Compute cost: MFU, peak memory, energy", paragraphs, [table], figures)]


BUILDERS.append(cost_sections)
