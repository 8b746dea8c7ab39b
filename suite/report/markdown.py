"""The Markdown report: GitHub-flavoured, short enough for a CI job summary, plots linked as files beside it.
Every string is escaped for Markdown (suite.plumbing.mdtext) as the HTML report escapes for HTML: case ids, reasons and
machine strings from a results file show as text and inject nothing into the page that publishes them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from suite.plumbing.mdtext import md_code, md_text
from suite.report.html import spans
from suite.report.sections import Section

NUMERIC = re.compile(r"^[-+x]?[\d,.]+")  # cells that start like a number are right-aligned


def cell(value) -> str:
    """Table text that cannot break a GFM table or inject markup: pipes and markup escaped, newlines folded."""
    return md_text(value)


def paragraph(text: str) -> str:
    """A paragraph whose `backticks` mark code (as in the HTML report): code spans verbatim, the rest escaped."""
    pieces = [md_code(piece) if code else md_text(piece, line_start=index == 0)
              for index, (piece, code) in enumerate(spans(text))]
    return "".join(pieces)


def md_table(frame) -> str:
    """A DataFrame of text cells as a GFM table, number-like columns right-aligned."""
    frame = frame.map(cell).rename(columns=cell)
    align = ["right" if len(frame) and all(NUMERIC.match(v) or v == "-" for v in frame[c]) else "left"
             for c in frame.columns]
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def render_markdown(title: str, sections: list[Section], out: Path) -> str:
    """The whole report; figure links are relative to OUT, where report.md is written."""
    lines = [f"# {md_text(title)}", ""]
    for section in sections:
        lines += [f"## {md_text(section.title)}", ""]
        lines += [line for text in section.paragraphs for line in (paragraph(text), "")]
        lines += [line for frame in section.tables for line in (md_table(frame), "")]
        for figure in section.figures:
            link = Path(os.path.relpath(figure, out)).as_posix()
            svg = Path(link).with_suffix(".svg").as_posix()
            lines += [f"![{md_text(section.title)}]({link})", ""]
            if (Path(out) / svg).is_file():
                lines += [f"[SVG]({svg})", ""]
    return "\n".join(lines)
