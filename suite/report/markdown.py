"""The Markdown report: GitHub-flavoured, short enough for a CI job summary, plots linked as files beside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from suite.report.sections import Section

NUMERIC = re.compile(r"^[-+x]?[\d,.]+")  # cells that start like a number are right-aligned


def cell(value) -> str:
    """Table text that cannot break a GFM table: pipes escaped, newlines folded."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(frame) -> str:
    """A DataFrame of text cells as a GFM table, number-like columns right-aligned."""
    frame = frame.map(cell).rename(columns=cell)
    align = ["right" if len(frame) and all(NUMERIC.match(v) or v == "-" for v in frame[c]) else "left"
             for c in frame.columns]
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def render_markdown(title: str, sections: list[Section], out: Path) -> str:
    """The whole report; figure links are relative to OUT, where report.md is written."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        lines += [line for text in section.paragraphs for line in (text, "")]
        lines += [line for frame in section.tables for line in (md_table(frame), "")]
        for figure in section.figures:
            link = Path(os.path.relpath(figure, out)).as_posix()
            svg = Path(link).with_suffix(".svg").as_posix()
            lines += [f"![{section.title}]({link})", ""]
            if (Path(out) / svg).is_file():
                lines += [f"[SVG]({svg})", ""]
    return "\n".join(lines)
