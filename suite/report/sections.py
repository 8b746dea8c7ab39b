"""The contract between the parts of a report and its renderers (Markdown and HTML).

A report is a list of sections. Each builder in BUILDERS takes a loaded Run and the output
directory (where it may write figures) and returns the sections it contributes (or none).
A module of this package registers by appending to BUILDERS at import; suite/report/build.py imports
every module here before rendering, and renders these sections after the suite's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    """One part of a report, rendered the same way into every format."""

    title: str
    paragraphs: list[str] = field(default_factory=list)  # plain text; escaped in HTML
    tables: list = field(default_factory=list)  # pandas DataFrames, cells already formatted as text
    figures: list[Path] = field(default_factory=list)  # PNG files inside the output directory
    ids: dict[str, str] = field(default_factory=dict)  # a case's name in the report -> its full id (HTML tooltips)


Builder = Callable[["object", Path], list[Section]]
BUILDERS: list[Builder] = []  # filled by the report modules, in report order
