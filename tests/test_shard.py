"""Sharding a plan (`--shard K/N`) and merging the parts' results files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from suite.cli import main
from suite.plans import load_plan
from suite.plumbing.errors import ConfigError
from suite.results.schema import load_run
from suite.results.shard import parse_shard, select_shard
from tests.test_compare import synthetic_case, write_run


@pytest.mark.parametrize("shards", [1, 3, 4, 7])
def test_shards_partition_the_plan_evenly_whatever_its_order(shards):
    cases = load_plan("default").cases
    parts = [select_shard(cases, f"{k}/{shards}") for k in range(1, shards + 1)]
    ids = [c.id for part in parts for c in part]
    assert sorted(ids) == sorted(c.id for c in cases) and len(set(ids)) == len(ids)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [c.id for c in select_shard(cases[::-1], f"1/{shards}")] == [c.id for c in parts[0]][::-1]


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2", "1/0", ""])
def test_bad_shard_is_a_config_error(text):
    with pytest.raises(ConfigError, match="expected K/N with 1 <= K <= N"):
        parse_shard(text)


def test_merge_joins_parts_and_refuses_mismatches(tmp_path, capsys):
    rng = np.random.default_rng(1)
    one = write_run(tmp_path / "p1.json", [synthetic_case("a", rng)])
    two = write_run(tmp_path / "p2.json", [synthetic_case("b", rng), synthetic_case("c", rng)])
    out = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), "--out", str(out)]) == 0
    merged = load_run(out)
    assert [c.case_id for c in merged.cases] == ["a", "b", "c"] and merged.plan == "synthetic"
    assert merged.cases[1].samples["train"] == load_run(two).cases[0].samples["train"]
    capsys.readouterr()
    other_plan = write_run(tmp_path / "p3.json", [synthetic_case("d", rng)], plan="other")
    other_env = write_run(tmp_path / "p4.json", [synthetic_case("d", rng)], torch="9.9", fingerprint="ffffffffffff")
    for bad, message in ((other_plan, "plan 'other' differs"), (other_env, "torch '2.3.0' vs '9.9'"),
                         (one, "case a is also in")):
        assert main(["merge", str(one), str(bad), "--out", str(tmp_path / "x.json")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_run_shards_then_merge_end_to_end(tiny_plan, tmp_path, capsys):
    """Each shard a run of its own (in this process: a shard needs no signal or exit code of a process of its
    own), then the merge."""
    for k in (1, 2):
        args = ["run", "--plan", tiny_plan, "--set", "epochs=1", "--shard", f"{k}/2", "--out", tmp_path / f"s{k}"]
        assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    capsys.readouterr()
    parts = [json.loads((tmp_path / f"s{k}" / "results.json").read_text()) for k in (1, 2)]
    assert [len({b["extra_info"]["case_id"] for b in p["benchmarks"]}) for p in parts] == [1, 1]
    assert [p["tradeoff_bench"]["shard"] for p in parts] == ["1/2", "2/2"]
    assert main(["merge", str(tmp_path / "s2" / "results.json"), "--out", str(tmp_path / "half.json")]) == 2
    assert "missing shard 1/2: 1 of 2 parts given" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "s1" / "results.json"), str(tmp_path / "s2" / "results.json"),
                 "--out", str(tmp_path / "all.json")]) == 0
    assert sorted(c.case_id.split("-")[0] for c in load_run(tmp_path / "all.json").cases) == ["conv", "dense"]
    assert main(["run", "--plan", str(tiny_plan), "--shard", "3/2", "--out", str(tmp_path / "bad")]) == 2
    assert "expected K/N with 1 <= K <= N" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_merge_requires_every_shard_unless_forced_and_names_the_missing(tmp_path, capsys):
    rng = np.random.default_rng(2)
    parts = []
    for k, name in ((1, "a"), (3, "c"), (4, "d")):
        path = write_run(tmp_path / f"p{k}.json", [synthetic_case(name, rng)])
        doc = json.loads(path.read_text())
        doc["tradeoff_bench"]["shard"] = f"{k}/4"
        path.write_text(json.dumps(doc))
        parts.append(str(path))
    out = tmp_path / "merged.json"
    assert main(["merge", *parts, "--out", str(out)]) == 2
    assert "missing shard 2/4: 3 of 4 parts given (use --force to merge them anyway)" in capsys.readouterr().err
    assert not out.exists()
    assert main(["merge", *parts, "--out", str(out), "--force"]) == 0
    assert capsys.readouterr().out.strip().endswith("from 3 parts; missing shards: 2/4")
    doc = json.loads(out.read_text())
    assert doc["tradeoff_bench"]["missing_shards"] == ["2/4"] and "shard" not in doc["tradeoff_bench"]
    assert [c.case_id for c in load_run(out).cases] == ["a", "c", "d"]
