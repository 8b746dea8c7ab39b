"""Turn results files into a report: the suite's own sections, then every section of sections.BUILDERS,
rendered as report.md and/or a self-contained index.html in one output directory.

    write_report([load_run("results.json")], Path("reports/latest"))
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path

from suite.plumbing.errors import ConfigError, choices_error
from suite.plumbing.fileio import ensure_dir, write_text_atomic
from suite.report import sections as contract
from suite.report.answer import build_answer
from suite.report.grouping import layout
from suite.report.groups import fingerprint_groups, groups_section
from suite.report.header import environment_section, title
from suite.report.html import render_html
from suite.report.markdown import render_markdown
from suite.report.plots import build_plots, plain_text
from suite.report.provenance import record_sources
from suite.report.sections import Section
from suite.report.tables import build_tables, case_ids_section
from suite.report.tradeoffs import build_tradeoffs
from suite.results.schema import Run

FORMATS = {"md": "report.md", "html": "index.html"}
CORE = [build_tradeoffs, build_tables, build_plots]  # the suite's own sections, in report order


def parse_formats(text: str) -> list[str]:
    """"md,html" as a list of known formats."""
    formats = [f.strip() for f in text.split(",") if f.strip()]
    for name in formats:
        if name not in FORMATS:
            raise choices_error("report format", name, FORMATS)
    if not formats:
        raise ConfigError(f"--format needs at least one of {', '.join(FORMATS)}")
    return formats


def merge(runs: list[Run]) -> Run:
    """Several results files as one run: their cases in file order (the first file's first case is the
    base), the first file's context."""
    first = runs[0]
    return Run(", ".join(r.path for r in runs), ", ".join(dict.fromkeys(r.plan for r in runs)),
               first.machine_info, first.commit_info, first.datetime, [c for r in runs for c in r.cases])


def registered_builders() -> list:
    """sections.BUILDERS after importing every module of this package, so each module that appends
    its builder there is included."""
    package = importlib.import_module("suite.report")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"suite.report.{module.name}")
    return list(contract.BUILDERS)


def build_sections(runs: list[Run], out: Path, extra: list | None = None) -> list[Section]:
    """Every section: the answer, environment, the core sections, then those of `extra` (default: sections.BUILDERS).
    Cases measured on nodes of different fingerprints (suite.report.groups) get these sections once per
    fingerprint group, each titled with its fingerprint and its plots under OUT/fingerprint-FP/. The case ids list
    ends the report (one per fingerprint group), and every section carries it for the HTML's tooltips."""
    merged = merge(runs)
    builders = CORE + (registered_builders() if extra is None else list(extra))
    groups = fingerprint_groups(merged)
    if len(groups) == 1:
        core = [s for build in builders for s in build(merged, out) or []]
        ids = layout(merged).tooltips()
        return [dataclasses.replace(s, ids=s.ids or ids) for s in [*build_answer(merged, out),
                environment_section(runs, merged), *core, *case_ids_section(merged)]]
    sections = [environment_section(runs, merged), groups_section(groups)]  # no one answer across hardware
    for fp, cases in groups.items():
        group = dataclasses.replace(merged, cases=cases)
        ids = layout(group).tooltips()
        for section in [*(s for build in builders for s in build(group, out / f"fingerprint-{fp}") or []),
                        *case_ids_section(group)]:
            sections.append(dataclasses.replace(section, title=f"{section.title} (fingerprint {fp})",
                                                ids=section.ids or ids))
    return sections


def write_report(runs: list[Run], out, formats=tuple(FORMATS), extra: list | None = None) -> list[Path]:
    """Write the report in each format under OUT (plots under OUT/plots/); returns the files written."""
    if not runs:
        raise ConfigError("no results files to report on")
    out = ensure_dir(out)
    with plain_text():  # every label drawn from results data stays plain text (no mathtext, no LaTeX)
        sections, heading = build_sections(runs, out, extra), title(runs)
    written = []
    for name in formats:
        text = render_markdown(heading, sections, out) if name == "md" else render_html(heading, sections)
        write_text_atomic(out / FORMATS[name], text)
        written.append(out / FORMATS[name])
    record_sources(out, [r.path for r in runs])
    return written
