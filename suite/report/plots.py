"""The report's plots (matplotlib, Agg canvas, PNG and SVG under OUT/plots/), one section each.

Every `*_figure` function takes the run's Layout and returns the Figure (None when the run has
nothing to draw), so tests can read back which rows a plot was drawn from. Labels are data (case ids,
plan values): they are drawn as plain text, never as mathtext or LaTeX (`plain_text`), and every image is
written through a temporary file and a rename (`save_figure`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator, StrMethodFormatter

from suite.metrics import INFER_LATENCY_MS_P50, PARAMS, TEST_ACCURACY, TEST_LOSS, TRAIN_RATE, VAL_LOSS
from suite.plumbing.errors import ConfigError
from suite.plumbing.fileio import atomic_file
from suite.report.grouping import Group, Layout, layout
from suite.report.pareto import pareto_front
from suite.report.sections import Section
from suite.report.tables import central

PLOTS_DIR = "plots"
MAX_RECIPES = 12  # lines in one plot beyond which its legend stops being readable
DPI = 100
VARIANT = {"model", "depth", "width", "shared", "heads", "context", "bias", "tie_head", "dropout"}  # a model variant
RECIPE = {"optimizer", "lr", "schedule", "weight_decay", "beta2", "decay_2d_only", "grad_clip", "warmup_steps",
          "min_lr"}  # the fields of a training recipe
FRONT = "Pareto front"  # the label of the front's scatter, which tests read back
ACCURACY_LABEL = "test accuracy (%)"
VAL_LOSS_LABEL = "validation loss (nats/token)"


@dataclass(frozen=True)
class Quality:
    """What the quality axis of a plot shows: a results key, its label and scale, which way is better."""

    key: str
    label: str
    scale: float
    lower_is_better: bool
    history_key: str  # the same figure in the per-epoch history
    title: str  # "Accuracy" in "Accuracy vs latency"


QUALITIES = {"accuracy": Quality(TEST_ACCURACY, ACCURACY_LABEL, 100.0, False, TEST_ACCURACY, "Accuracy"),
             "loss": Quality(VAL_LOSS, VAL_LOSS_LABEL, 1.0, True, TEST_LOSS, "Validation loss")}


def quality(lay: Layout) -> Quality:
    """Validation loss for a run of language models (the figure they are judged on; also where there is no
    accuracy), test accuracy otherwise."""
    has_loss = any(g.value(VAL_LOSS) is not None for g in lay.groups)
    return QUALITIES["loss" if has_loss else "accuracy"]


def new_figure(width: float = 7.5, height: float = 4.6, **subplots) -> tuple[Figure, object]:
    """A figure on an Agg canvas (no pyplot state) and its axes."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


@contextmanager
def plain_text():
    """While active, new text in figures is plain: a "$" in a case id is a dollar sign, not mathtext, and
    nothing goes through LaTeX. Tick labels are made when a figure is saved: save inside the block too."""
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        yield


def check_image_path(path: Path) -> None:
    """Refuse an image path whose suffix names no format matplotlib writes, before anything is drawn."""
    formats = FigureCanvasAgg.get_supported_filetypes()
    if Path(path).suffix[1:].lower() not in formats:
        raise ConfigError(f"{path}: the file name must end in one of: {', '.join('.' + f for f in formats)}")


def save_figure(fig: Figure, path: Path, **options) -> Path:
    """Write a figure in the format its suffix names, through a temporary file and a rename."""
    path = Path(path)
    check_image_path(path)
    with atomic_file(path, binary=True) as handle:
        fig.savefig(handle, format=path.suffix[1:].lower(), **options)
    return path


def save(fig: Figure, out: Path, name: str) -> Path:
    """Write NAME.png and NAME.svg under OUT/plots/; returns the PNG."""
    folder = Path(out) / PLOTS_DIR
    save_figure(fig, folder / f"{name}.svg", metadata={"Date": None})
    return save_figure(fig, folder / f"{name}.png", dpi=DPI)


def accuracy_points(lay: Layout, key: str, shown: Quality = QUALITIES["accuracy"]) -> list[tuple[Group, float, float]]:
    """(group, metric, quality in its shown unit: test accuracy %, or validation loss) of every ok group that has
    both."""
    points = []
    for g in lay.groups:
        x, value = central(g, key), g.value(shown.key)
        if g.status == "ok" and x is not None and value is not None:
            points.append((g, x, shown.scale * value))
    return points


def front_figure(lay: Layout, key: str, xlabel: str) -> Figure | None:
    """Test accuracy (a language model: validation loss) against a cost (lower is better), the Pareto front drawn,
    joined and labelled."""
    shown = quality(lay)
    points = accuracy_points(lay, key, shown)
    if not points:
        return None
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    front = pareto_front(xs, [-y for y in ys] if shown.lower_is_better else ys)
    fig, ax = new_figure()
    others = [i for i in range(len(points)) if i not in front]
    ax.scatter([xs[i] for i in others], [ys[i] for i in others], color="#9aa5b1", label="dominated", zorder=2)
    ax.scatter([xs[i] for i in front], [ys[i] for i in front], color="#d9480f", label=FRONT, zorder=3)
    ordered = sorted(front, key=lambda i: xs[i])
    ax.plot([xs[i] for i in ordered], [ys[i] for i in ordered], color="#d9480f", drawstyle="steps-post", zorder=1)
    if min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=shown.label)
    ax.grid(alpha=0.3)
    legend = ax.legend(loc="upper right" if shown.lower_is_better else "lower right", fontsize=8)
    place_labels(ax, [(xs[i], ys[i], lay.short_label(points[i][0])) for i in front], [legend], xs, ys)
    return fig


# adjustText's steps per figure. Its default stops after one second instead, so a label's place depended on the
# machine's speed, and a label that cannot get clear (one point pressed against the legend) took the whole second
# in every report; 200 steps settle the suite's figures (0.1-0.3 s) and give the same figure everywhere.
LABEL_STEPS = 200


def place_labels(ax, labels: list[tuple[float, float, str]], avoid: list, xs: list[float], ys: list[float]) -> list:
    """Label points without overlaps: adjustText pushes the labels apart (and off every point and the `avoid`
    artists, the legend) for LABEL_STEPS steps and joins a moved label to its point by a thin line. Returns the
    Text artists."""
    from adjustText import adjust_text

    texts = [ax.text(x, y, label, fontsize=8) for x, y, label in labels]
    if texts:
        ax.figure.canvas.draw()  # the final limits and layout, which adjustText measures in
        adjust_text(texts, x=xs, y=ys, objects=avoid, ax=ax, expand=(1.15, 1.4), iter_lim=LABEL_STEPS,
                    arrowprops={"arrowstyle": "-", "color": "#7b8794", "lw": 0.6})
    return texts


def variant_label(case: dict) -> str:
    """A model variant's name: "conv d2 w16 shared", "seed-cnn"."""
    parts = [str(case.get("model"))]
    if case.get("depth") is not None:
        parts += [f"d{case['depth']}", f"w{case.get('width')}"] + (["shared"] if case.get("shared") else [])
    return " ".join(parts)


def throughput_figure(lay: Layout) -> Figure | None:
    """Training samples/s by model variant (rows) and optimizer (bars), min-max over rounds as error bars.

    Only groups that change nothing but the variant and the optimizer, so each bar is one recipe."""
    groups = [g for g in lay.groups if set(lay.changes(g)) <= VARIANT | {"optimizer"}
              and central(g, TRAIN_RATE) is not None]
    if not groups:
        return None
    variants = list(dict.fromkeys(variant_label(g.case) for g in groups))
    optimizers = list(dict.fromkeys(str(g.case.get("optimizer")) for g in groups))
    fig, ax = new_figure(height=max(3.0, 0.45 * len(variants) * max(1, len(optimizers)) ** 0.5 + 1.5))
    height = 0.8 / len(optimizers)
    for k, optimizer in enumerate(optimizers):
        mine = [g for g in groups if str(g.case.get("optimizer")) == optimizer]
        rows = [variants.index(variant_label(g.case)) + k * height - 0.4 + height / 2 for g in mine]
        values = [central(g, TRAIN_RATE) for g in mine]
        rates = [g.train_rates() or [v] for g, v in zip(mine, values)]
        errors = [[v - min(r) for v, r in zip(values, rates)], [max(r) - v for v, r in zip(values, rates)]]
        ax.barh(rows, values, height=height, xerr=errors, label=optimizer, capsize=2)
    ax.set_yticks(range(len(variants)), variants)
    ax.invert_yaxis()
    ax.set(xlabel="training throughput (samples/s, median; bars: min–max over rounds)")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(title="optimizer", fontsize=8)
    return fig


def recipe_groups(lay: Layout) -> tuple[list[Group], str]:
    """The base model trained with each recipe (groups changing nothing but optimizer, lr, schedule, L2),
    at most MAX_RECIPES of them: those with the highest final test accuracy, with a title saying so."""
    groups = [g for g in lay.groups if set(lay.changes(g)) <= RECIPE and history(g)]
    if len(groups) <= MAX_RECIPES:
        return groups, ""
    shown = quality(lay)
    sign = 1.0 if shown.lower_is_better else -1.0
    best = sorted(groups, key=lambda g: sign * (history(g)[-1].get(shown.history_key) or sign * -float("inf")))
    best = best[:MAX_RECIPES]
    title = f"the {MAX_RECIPES} of {len(groups)} recipes with the best final {shown.label.split(' (')[0]}"
    return [g for g in groups if g in best], title


def history(group: Group) -> list[dict]:
    """The per-epoch history of a group's first member that has one."""
    return next((m.metrics["history"] for m in group.members if m.metrics.get("history")), [])


def series(rows: list[dict], x: str, y: str, scale: float = 1.0) -> tuple[list, list]:
    """The (x, y) pairs of a history where both are numbers."""
    pairs = [(r.get(x), r.get(y)) for r in rows]
    pairs = [(a, b * scale) for a, b in pairs if isinstance(a, (int, float)) and isinstance(b, (int, float))]
    return [a for a, _ in pairs], [b for _, b in pairs]


def budget_axis(groups: list[Group]) -> tuple[str, str]:
    """(history key, label) of the budget's unit: optimizer steps when any case has a steps budget, else epochs."""
    return ("step", "optimizer step") if any(g.case.get("steps") for g in groups) else ("epoch", "epoch")


def log_y(ax) -> None:
    """A log y scale whose tick labels are plain numbers: under plain_text the default labels would show their
    mathtext source ("$\\mathdefault{10^{-3}}$")."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(1, 0.4)))


def convergence_figure(lay: Layout) -> Figure | None:
    """Test accuracy (a language model: validation loss) and train loss against epoch (or step) and wall time,
    one line per recipe."""
    groups, title = recipe_groups(lay)
    if not groups:
        return None
    fig, axes = new_figure(10, 7, nrows=2, ncols=2, sharey="row")
    fig.suptitle(title, fontsize=9)
    shown = quality(lay)
    panels = [(shown.history_key, shown.scale, shown.label),
              ("train_loss", 1.0, "train loss (cross-entropy, log scale)")]
    for row, (key, scale, ylabel) in enumerate(panels):
        for col, (x, xlabel) in enumerate([budget_axis(groups), ("wall_time_s", "training wall time (s)")]):
            ax = axes[row][col]
            for g in groups:
                ax.plot(*series(history(g), x, key, scale), marker=".", label=lay.short_label(g))
            ax.set(xlabel=xlabel, ylabel=ylabel if col == 0 else None)
            if x in ("epoch", "step"):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if key == "train_loss":
                log_y(ax)
    axes[0][1].legend(fontsize=7, loc="upper right" if shown.lower_is_better else "lower right")
    return fig


def schedule_figure(lay: Layout) -> Figure | None:
    """The learning rate each recipe actually used per epoch, as recorded in its history."""
    groups, title = recipe_groups(lay)
    x, xlabel = budget_axis(groups)
    groups = [g for g in groups if series(history(g), x, "lr")[0]]
    if not groups:
        return None
    fig, ax = new_figure(height=3.8)
    ax.set_title(title, fontsize=9)
    for g in groups:
        xs, rates = series(history(g), x, "lr")
        if x == "step":  # each entry's rate is the one its interval started with: draw it at that first step
            xs = [0, *xs[:-1]]
        ax.plot(xs, rates, marker=".", label=lay.short_label(g))
    ax.set(xlabel=f"{xlabel} (the rate at the start of each evaluation interval)" if x == "step" else xlabel,
           ylabel="learning rate (log scale)")
    log_y(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


PLOTS = [
    ("Accuracy vs latency", "pareto-accuracy-latency",
     "Test accuracy against batch-1 inference latency (p50); the Pareto front (no case is both faster and "
     "more accurate) is joined and labelled.",
     lambda lay: front_figure(lay, INFER_LATENCY_MS_P50, "inference latency p50 at batch 1 (ms)")),
    ("Accuracy vs parameters", "accuracy-params",
     "Test accuracy against parameter count; the labelled cases are the front (no smaller model is as accurate).",
     lambda lay: front_figure(lay, PARAMS, "parameters (count)")),
    ("Training throughput by model and optimizer", "train-throughput",
     "Training samples/s of each model variant with each optimizer, every other field as in the base case.",
     throughput_figure),
    ("Convergence", "convergence",
     "Test accuracy and train loss per epoch and against training wall time, one line per optimizer, "
     "schedule or L2 setting on the base model.", convergence_figure),
    ("Learning-rate schedules", "lr-schedules", "The learning rate each of those runs applied, per epoch.",
     schedule_figure),
]
# Title and caption of those plots for a run of language models, whose quality axis is the validation loss.
LOSS_TEXT = {
    "pareto-accuracy-latency": (
        "Validation loss vs latency", "Validation loss (nats per token, lower is better) against batch-1 inference "
        "latency (p50 of one full-context forward); the Pareto front (no case is both faster and lower in loss) is "
        "joined and labelled."),
    "accuracy-params": (
        "Validation loss vs parameters", "Validation loss against parameter count (shared weights once); the "
        "labelled cases are the front (no smaller model has as low a loss)."),
    "convergence": (
        "Convergence", "Validation loss and train loss at each evaluation (per optimizer step under a steps budget) "
        "and against training wall time, one line per optimizer, schedule or other recipe setting on the base model."),
    "lr-schedules": (
        "Learning-rate schedules", "The learning rate each of those runs applied at the start of each evaluation "
        "interval (warmup-cosine changes it every step in between)."),
}


def build_plots(run, out: Path) -> list[Section]:
    """One section per plot that the run has data for, its PNG and SVG written under OUT/plots/."""
    lay = layout(run)
    sections = []
    for title, name, caption, draw in PLOTS:
        fig = draw(lay) if lay.groups else None
        if quality(lay).lower_is_better:
            title, caption = LOSS_TEXT.get(name, (title, caption))
        if fig is not None:
            sections.append(Section(title, [caption], figures=[save(fig, out, name)]))
    return sections
