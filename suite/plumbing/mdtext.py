"""Text from results files made safe for Markdown (GitHub-flavoured, as in a CI job summary). Imports no torch.

Case ids, reasons, plan names and machine strings come from files anyone can write: in report.md and
`compare --markdown` they must read as the text they are, as jinja2's autoescape does for the HTML report.
A pipe must not split a table cell, a line break must not end a row or a paragraph, and backticks, emphasis,
links, math (`$`), strike-through and raw HTML must not take effect:

    md_text("a|b `x` <script>")  ->  "a\\|b \\`x\\` \\<script>"

Backslash escapes (CommonMark allows one before any ASCII punctuation) keep the raw file readable:
intraword underscores (weight_decay) and a "<" that opens no tag ("p < 0.05") are left as they are.
"""

from __future__ import annotations

import re

LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")  # everything str.splitlines splits on
ALWAYS = re.compile(r"[\\`*\[\]|~$]")
UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # emphasis needs an underscore at a word edge
OPENS_HTML = re.compile(r"<(?=[A-Za-z/!?])")  # a tag, a closing tag, a comment or a declaration
ENTITY = re.compile(r"&(?=[#A-Za-z])")  # &lt; or &#60; would be decoded
LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")  # a heading, quote, list or setext line if first


def one_line(text) -> str:
    """The text with every line break folded to a space."""
    return LINE_BREAKS.sub(" ", str(text))


def md_text(text, line_start: bool = False) -> str:
    """Plain text for Markdown: line breaks folded, markup characters escaped. `line_start`: the text
    begins a line, where "#", ">", "-", "+", "=" and "1." would start a block."""
    text = ALWAYS.sub(r"\\\g<0>", one_line(text))
    text = ENTITY.sub(r"\\&", OPENS_HTML.sub(r"\\<", UNDERSCORE.sub(r"\\_", text)))
    return LINE_START.sub(r"\1\\\2", text) if line_start else text


def md_code(text, in_table: bool = False) -> str:
    """Text as a code span: shown verbatim, fenced by one backtick more than its longest run of them
    (CommonMark), padded when it starts or ends with one; in a table a pipe is still escaped (GFM)."""
    text = one_line(text)
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"
