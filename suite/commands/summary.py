"""The last lines of `tradeoff-bench run`: where everything was written, then the report's answers (the
configurations to take for speed, latency and size within a tolerance of the best quality), so the terminal
alone answers the question."""

from __future__ import annotations

from pathlib import Path


def summary_lines(out: Path, run) -> list[str]:
    """The report's answers as plain lines (the fastest configuration of each model whose levers the run searched
    first), then the files: results.json, report.md, index.html and plots/."""
    from suite.report.answer import answer_lines
    from suite.report.fastest import fastest_lines
    from suite.report.plots import PLOTS_DIR

    out = Path(out)
    files = [out / "results.json", out / "report.md", out / "index.html"]
    written = ", ".join(str(f) for f in files if f.is_file())
    plots = out / PLOTS_DIR
    return [*(line.replace("`", "") for line in [*fastest_lines(run), *answer_lines(run)]),
            f"wrote {written}" + (f" and the plots in {plots}{'/'}" if plots.is_dir() else "")]
