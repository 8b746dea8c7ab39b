"""pytest-benchmark wiring for the suite's cases. Every hook the suite adds lives here.

    pytest benchmarks --plan quick --benchmark-json out.json
    pytest benchmarks --plan default --set device=cuda --data-dir DIR --benchmark-group-by=group
"""

from __future__ import annotations

import pytest

from suite.errors import ConfigError


def pytest_addoption(parser):
    """--plan, --set, --data-dir and --shard: the same options as `tradeoff-bench run`."""
    group = parser.getgroup("tradeoff-bench")
    group.addoption("--plan", default="quick", help="plan name in benchmarks/plans/ or a .toml path")
    group.addoption("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base field")
    group.addoption("--data-dir", default=None, help="data directory: IDX files, tinyshakespeare/input.txt "
                    "(or $TRADEOFF_BENCH_DATA)")
    group.addoption("--shard", default=None, metavar="K/N", help="only the K-th of N balanced parts of the plan")


def pytest_configure(config):
    """Load and validate the plan once, before collection: a bad plan is a usage error, not a crash."""
    from suite.commands.run import parse_sets
    from suite.plans import load_plan
    from suite.shard import shard_plan

    try:
        config._tradeoff_not_measured = []  # cases skipped in this session, written into the JSON
        plan = load_plan(config.getoption("--plan"), parse_sets(config.getoption("--set")),
                         config.getoption("--data-dir"))
        config._tradeoff_plan = shard_plan(plan, config.getoption("--shard"))
    except ConfigError as exc:
        raise pytest.UsageError(f"tradeoff-bench: {exc}") from None


def pytest_generate_tests(metafunc):
    """Parametrize every test that takes `case` with the plan's cases, their ids as test ids."""
    if "case" in metafunc.fixturenames:
        cases = metafunc.config._tradeoff_plan.cases
        metafunc.parametrize("case", cases, ids=[c.id for c in cases], scope="session")


def pytest_benchmark_update_machine_info(config, machine_info):
    """Add the suite's environment block (torch, threads, GPUs, allocator, fingerprint)."""
    from suite.environment import add_environment

    add_environment(machine_info)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Add the `tradeoff_bench` block: schema version, plan name, cases that were not measured."""
    from suite.results import tradeoff_block

    output_json["tradeoff_bench"] = tradeoff_block(config._tradeoff_plan.name, config._tradeoff_not_measured)
