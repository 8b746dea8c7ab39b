"""pytest-benchmark wiring for the suite's cases. Every hook the suite adds lives here.

    pytest benchmarks --plan quick --benchmark-json out.json
    pytest benchmarks --plan default --set device=cuda --data-dir DIR --benchmark-group-by=group

Only the plan's case tests (test_cases.py) are collected: the suite's self-checks in selfchecks/ run
when named, `pytest benchmarks/selfchecks -s`, never as part of a plan (a nightly job included).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from suite.plumbing.errors import ConfigError

SELFCHECKS = Path(__file__).parent / "selfchecks"


def pytest_ignore_collect(collection_path, config):
    """Skip selfchecks/ unless a command-line argument names it."""
    if collection_path == SELFCHECKS:
        named = any(Path(str(arg).split("::")[0]).resolve().is_relative_to(SELFCHECKS) for arg in config.args)
        return not named
    return None


def pytest_addoption(parser):
    """--plan, --set, --data-dir, --shard, --isolation and --timing-only: the same options as `tradeoff-bench run`."""
    group = parser.getgroup("tradeoff-bench")
    group.addoption("--plan", default="quick", help="plan name in benchmarks/plans/ or a .toml path")
    group.addoption("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    group.addoption("--data-dir", default=None, help="data directory: IDX files, tinyshakespeare/input.txt "
                    "(or $TRADEOFF_BENCH_DATA)")
    group.addoption("--shard", default=None, metavar="K/N", help="only the K-th of N balanced parts of the plan")
    group.addoption("--isolation", default=None, metavar="MODE",
                    help="none (the default unless the plan says `isolation`) or process: each case measured in a "
                    "fresh Python interpreter")
    group.addoption("--timing-only", action="store_true",
                    help="time the step and the forwards only, no training to the accuracy budget")
    group.addoption("--measure", default="time", choices=("time", "instructions"),
                    help="time (the default) or instructions: count the step and the forward under valgrind")


def pytest_configure(config):
    """Load and validate the plan once, before collection, with the plug-ins it names: a bad plan is a usage
    error, not a crash."""
    from suite.commands.run import parse_sets
    from suite.executors.isolated import check_isolation
    from suite.measure.system_check import snapshot
    from suite.plans import load_plan
    from suite.results.shard import shard_plan
    from suite.workloads.checks import check_plugins

    config._tradeoff_system_start = snapshot()
    try:
        config._tradeoff_not_measured = []  # cases skipped in this session, written into the JSON
        plan = load_plan(config.getoption("--plan"), parse_sets(config.getoption("--set")),
                         config.getoption("--data-dir"))
        config._tradeoff_plan = shard_plan(plan, config.getoption("--shard"))
        check_plugins(config._tradeoff_plan.cases, config.getoption("--data-dir"))
        config._tradeoff_isolation = check_isolation(config.getoption("--isolation") or config._tradeoff_plan.isolation)
    except ConfigError as exc:
        raise pytest.UsageError(f"tradeoff-bench: {exc}") from None


def pytest_generate_tests(metafunc):
    """Parametrize every test that takes `case` with the plan's cases, their ids as test ids."""
    if "case" in metafunc.fixturenames:
        cases = metafunc.config._tradeoff_plan.cases
        metafunc.parametrize("case", cases, ids=[c.id for c in cases], scope="session")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Add the suite's environment block (torch, threads, GPUs, allocator, fingerprint) and the measurement
    procedure, the same settings `tradeoff-bench run` records."""
    from suite.executors.instructions import measure_config
    from suite.executors.isolated import isolation_procedure
    from suite.measure.environment import add_environment

    add_environment(machine_info)
    procedure = measure_config(config.getoption("--measure"), config.getoption("--timing-only")).procedure("pytest")
    machine_info["tradeoff_bench"]["procedure"] = procedure | isolation_procedure(config._tradeoff_isolation)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Add the `tradeoff_bench` block (schema version, plan name, cases that were not measured), and the
    system check and the ceilings the cases used to the environment block."""
    import torch

    from suite.measure.system_check import finish
    from suite.results.schema import tradeoff_block
    from suite.results.shard import shard_text

    warning = finish(output_json["machine_info"], config._tradeoff_system_start, torch.get_num_threads())
    if warning:
        print(f"\n{warning}")
    output_json["tradeoff_bench"] = tradeoff_block(config._tradeoff_plan.name, config._tradeoff_not_measured,
                                                   shard_text(config.getoption("--shard")))


def pytest_sessionfinish(session, exitstatus):
    """Write --benchmark-json when pytest-benchmark saved nothing because no case was measured (a shard whose
    cases were all skipped): the same document with no benchmarks and every case in `not_measured`, so that
    `tradeoff-bench merge` finds each part. pytest-benchmark's own saving (a hook wrapper) has run by now."""
    bench = getattr(session.config, "_benchmarksession", None)
    if bench is None or not bench.json or bench.benchmarks or bench.disabled \
            or not hasattr(session.config, "_tradeoff_plan"):
        return
    hook = session.config.hook
    commit_info = hook.pytest_benchmark_generate_commit_info(config=session.config)
    hook.pytest_benchmark_update_commit_info(config=session.config, commit_info=commit_info)
    document = hook.pytest_benchmark_generate_json(config=session.config, benchmarks=[], include_data=True,
                                                   machine_info=bench.get_machine_info(), commit_info=commit_info)
    hook.pytest_benchmark_update_json(config=session.config, benchmarks=[], output_json=document)
    bench.save_json(document)
