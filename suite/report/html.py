"""The HTML report: one self-contained index.html (images embedded, styles and the table sorter inline,
no network request of any kind), every string from a results file escaped by jinja2's autoescape. A case's short
label shows its full id as a tooltip (the `title` attribute)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from suite.report.sections import Section
from suite.report.tables import BEST

TEMPLATES = Path(__file__).resolve().parent / "templates"


def data_uri(path: Path) -> str:
    """A PNG (or SVG) file as a data: URI."""
    kind = "image/svg+xml" if Path(path).suffix == ".svg" else "image/png"
    return f"data:{kind};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def case_id_of(text: str, ids: dict[str, str]) -> str:
    """The full case id behind a case's name in the report ("width 32 (noisy)": marks in parentheses dropped),
    or "" when the text names no case."""
    while text not in ids and text.endswith(")") and " (" in text:
        text = text[: text.rindex(" (")]
    return ids.get(text, "")


def table_view(frame, ids: dict[str, str] | None = None) -> dict:
    """A DataFrame as header and rows of (text, css class, tooltip) cells; best values get class "best", a case's
    name in the first column (where every table names its row) its full id as the tooltip."""
    rows = [[(value, "best" if value.endswith(BEST) else "", case_id_of(value, ids or {}) if column == 0 else "")
             for column, value in enumerate(map(str, values))] for values in frame.itertuples(index=False)]
    return {"header": [str(c) for c in frame.columns], "rows": rows}


def spans(text: str) -> list[tuple[str, bool]]:
    """A paragraph as (text, is_code) pieces: `backticks` mark code, as in the Markdown report."""
    return [(piece, index % 2 == 1) for index, piece in enumerate(text.split("`")) if piece]


def span_views(text: str, ids: dict[str, str]) -> list[tuple[str, bool, str]]:
    """spans() with a tooltip for code that names a case: its full id."""
    return [(piece, code, case_id_of(piece, ids) if code else "") for piece, code in spans(text)]


def anchor(title: str, index: int) -> str:
    """A stable, safe id for a section."""
    return f"s{index}-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_html(title: str, sections: list[Section]) -> str:
    """The whole page."""
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    views = [{"title": s.title, "id": anchor(s.title, i), "paragraphs": [span_views(p, s.ids) for p in s.paragraphs],
              "tables": [table_view(t, s.ids) for t in s.tables],
              "figures": [{"src": data_uri(f), "alt": f"{s.title}: {Path(f).stem}"} for f in s.figures]}
             for i, s in enumerate(sections)]
    return env.get_template("report.html.j2").render(title=title, sections=views, best=BEST.strip())
