"""The code's layout holds: layers import downward only (inside functions too), no two modules import each other in
a loop, the report reads only results, the metric registry and plumbing, and a quick-plan run emits the names it
emitted before the code was laid out anew (tests/golden/quick_names.json; update on purpose only)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from suite import cli
from suite.metrics import METRICS, SUFFIXES
from tests.conftest import REPO
from tests.layout_names import emitted_names

SUITE = REPO / "suite"
# Bottom to top (README, "How the code is laid out"); a module may import its own layer and those below.
LAYERS = [
    ("suite.plumbing",),
    ("suite.results", "suite.metrics", "suite.procedure"),
    ("suite.measure",),
    ("suite.workloads", "suite.optim", "suite.budget"),
    ("suite.levers",),
    ("suite.cases", "suite.plans"),
    ("suite.train",),
    ("suite.runner",),
    ("suite.executors",),
    ("suite.report",),  # reads only results, the registry and plumbing (test below)
    ("suite.commands", "suite.cli"),
]
REPORT_READS = ("suite.report", "suite.results", "suite.metrics", "suite.plumbing")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SUITE.rglob("*.py"))}


def imports() -> list[tuple[str, str, bool]]:
    """(importer, imported suite module, at module level) for every import of a suite module by another."""
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in (t for t in targets if t.startswith("suite.") or t == "suite"):
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                if target and target != name and target != "suite":
                    found.append((name, target, id(node) in top))
    return found


def layer(module: str) -> int:
    return next(i for i, names in enumerate(LAYERS) for prefix in names
                if module == prefix or module.startswith(prefix + "."))


def test_no_import_goes_upward():
    """Function-level imports included: one inside a function hides a dependency as well as a module-level one."""
    upward = sorted({(a, b) for a, b, _ in imports() if a != "suite" and layer(b) > layer(a)})
    assert upward == []


def test_no_import_circle():
    graph: dict[str, set[str]] = {}
    for a, b, _ in imports():
        graph.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo += graph.get(node, ())
        return False

    circles = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if reaches(b, a)})
    assert circles == []


def test_the_report_reads_only_results_the_registry_and_plumbing():
    assert sorted({(a, b) for a, b, _ in imports() if a.startswith("suite.report")
                   and not b.startswith(REPORT_READS)}) == []


def test_at_most_twelve_top_level_modules_each_with_its_job():
    top = sorted(SUITE.glob("*.py"))
    assert len(top) <= 12, [p.name for p in top]
    assert all(ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) for p in MODULES.values())


def test_a_quick_plan_run_emits_the_names_recorded_before_the_layout(tmp_path, capsys):
    out = tmp_path / "quick"
    assert cli.main(["run", "--plan", "quick", "--set", "epochs=1", "--out", str(out)]) == 0, capsys.readouterr().err
    golden = json.loads((REPO / "tests" / "golden" / "quick_names.json").read_text())
    assert emitted_names(out / "results.json", out / "report.md") == golden


def test_the_throughputs_are_spelled_only_in_the_registry_and_where_they_are_measured():
    """Issue 22's acceptance: other modules name the two throughputs through suite.metrics (TRAIN_RATE,
    INFER_RATE), so renaming one is a change to the registry and the measuring code alone."""
    spelled = re.compile(r"""["'](train|infer)_samples_per_s(["']|_)""")
    allowed = {SUITE / "metrics.py", SUITE / "measure" / "timing.py"}
    found = [f"{path.relative_to(REPO)}:{number}" for folder in (SUITE, REPO / "benchmarks")
             for path in sorted(folder.rglob("*.py")) if path not in allowed
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if spelled.search(line)]
    assert found == []


def test_the_readers_spell_no_metric_name():
    """Issue 22: the report, results and commands read every metric through its name in suite/metrics.py, so
    renaming a metric changes the registry and the code that measures it alone. A line that holds the same word for
    something else says so ("# not the metric")."""
    names = "|".join(sorted(map(re.escape, METRICS), key=len, reverse=True))
    suffixes = "|".join(re.escape(s.lstrip("_")) for s in SUFFIXES)
    spelled = re.compile(rf"""["']({names})(_({suffixes}))?["']""")
    readers = [SUITE / "report", SUITE / "results", SUITE / "commands"]
    found = [f"{path.relative_to(REPO)}:{number}" for folder in readers for path in sorted(folder.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if spelled.search(line) and "# not the metric" not in line]
    assert found == []
