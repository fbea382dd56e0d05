"""Checkpoints a user can trust: nothing in them runs code on load, they belong to exactly
one run (configuration content, kernel, reverts, reductions, layout, model source), any
damage is a one-line error, and counts after a chain of stops and resumes equal an
uninterrupted run's, limit-bounded runs included."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from cowlab.check import identity
from cowlab.check.checkpoint import _LENGTH, _MAGIC, CheckpointError, load_checkpoint
from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.history import kernel_at
from cowlab.scenario.catalog import load_named_config

CONFIG = "gaudi-open"


def _sections(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    (length,) = _LENGTH.unpack_from(data, len(_MAGIC))
    head = len(_MAGIC) + _LENGTH.size
    return json.loads(data[head:head + length]), data[head + length:]


def _stopped_run(path: Path, states: int = 200, **kwargs):
    return run_check(load_named_config(CONFIG), kernel_at("v5.8"),
                     limits=Limits(max_states=states), checkpoint=str(path), **kwargs)


def test_nothing_in_a_checkpoint_is_pickled(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    header, body = _sections(path)
    assert [name for name, _, _ in header["sections"]] == [
        "fingerprints", "links", "frontier", "frontier-objects", "search"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    mem = load_checkpoint(path, {})
    assert mem.stats.distinct >= 200 and len(mem.frontier) > 0
    search = json.loads(body[-header["sections"][-1][1]:])
    assert search["strategy"] == "bfs" and search["stats"]["distinct"] >= 200


def test_a_checkpoint_of_the_older_pickled_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    data = path.read_bytes().replace(b'"format": 3', b'"format": 2')
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"checkpoint format 2 .*start the run again"):
        run_check(load_named_config(CONFIG), kernel_at("v5.8"), resume=str(path))


@pytest.mark.parametrize(("change", "field"), [
    ({"kernel": kernel_at("v5.16")}, "kernel"),
    ({"kernel": kernel_at("v5.17", revert=("80d47f5de5e3",))}, "kernel"),
    ({"reduce": False}, "reduce"),
    ({"sanity": False}, "sanity"),
    ({"strategy": "dfs"}, "strategy"),
    ({"fingerprint_bits": 128}, "fingerprint_bits"),
])
def test_a_checkpoint_is_resumed_only_by_its_own_run(tmp_path: Path, change: dict, field: str
                                                     ) -> None:
    path = tmp_path / "ck"
    run_check(load_named_config(CONFIG), kernel_at("v5.17"), limits=Limits(max_states=100),
              checkpoint=str(path))
    args = {"kernel": kernel_at("v5.17"), **change}
    with pytest.raises(CheckpointError, match=f"checkpoint is for {field}="):
        run_check(load_named_config(CONFIG), resume=str(path), **args)


def test_a_change_to_the_configuration_content_is_refused(tmp_path: Path) -> None:
    """Same name, different content (a budget raised): its states are not this run's."""
    path = tmp_path / "ck"
    _stopped_run(path)
    config = load_named_config(CONFIG)
    more = dataclasses.replace(config, budgets=dataclasses.replace(
        config.budgets, numa_scan=config.budgets.numa_scan + 1))
    with pytest.raises(CheckpointError, match="checkpoint is for config_sha256="):
        run_check(more, kernel_at("v5.8"), resume=str(path))


def test_a_change_to_the_model_source_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    monkeypatch.setattr(identity, "model_source_digest", lambda: "another model")
    with pytest.raises(CheckpointError, match="checkpoint is for model_source="):
        run_check(load_named_config(CONFIG), kernel_at("v5.8"), resume=str(path))


@pytest.mark.parametrize("where", ["header", "fingerprints", "frontier", "end"])
def test_damage_anywhere_is_a_one_line_error(tmp_path: Path, where: str) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    data = bytearray(path.read_bytes())
    header, body = _sections(path)
    start = len(data) - len(body)
    offsets = {"header": len(_MAGIC) + _LENGTH.size + 3,
               "fingerprints": start + 40,
               "frontier": start + header["sections"][0][1] + header["sections"][1][1] + 60}
    if where == "end":
        data += b"\0"
    else:
        data[offsets[where]] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, {})
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_frontier_that_names_foreign_code_is_refused(tmp_path: Path) -> None:
    """The objects section names records; one outside the allow-list is an error, not an
    import."""
    path = tmp_path / "ck"
    _stopped_run(path)
    header, body = _sections(path)
    sizes = [size for _, size, _ in header["sections"]]
    at = sum(sizes[:3])
    objects = json.loads(body[at:at + sizes[3]])
    objects["values"][0] = {"record": "os.system", "fields": ["true"]}
    forged = json.dumps(objects).encode()
    import zlib

    header["sections"][3] = ["frontier-objects", len(forged), zlib.crc32(forged)]
    raw = json.dumps(header).encode()
    path.write_bytes(_MAGIC + _LENGTH.pack(len(raw)) + raw + body[:at] + forged
                     + body[at + sizes[3]:])
    with pytest.raises(CheckpointError, match=r"unknown record type 'os\.system'"):
        load_checkpoint(path, {})


@pytest.mark.parametrize("strategy", ["bfs", "dfs"])
def test_a_chain_of_limited_runs_counts_as_one_run(tmp_path: Path, strategy: str) -> None:
    """Stopped at 150, then 400, then 900 states: the same counts and depth as one run
    stopped at 900 (the state limit is looked at before every expansion)."""
    config, kernel = load_named_config(CONFIG), kernel_at("v5.8")
    whole = run_check(config, kernel, strategy=strategy, limits=Limits(max_states=900))
    path = str(tmp_path / "ck")
    run_check(config, kernel, strategy=strategy, limits=Limits(max_states=150), checkpoint=path)
    run_check(config, kernel, strategy=strategy, limits=Limits(max_states=400), resume=path)
    chained = run_check(config, kernel, strategy=strategy, limits=Limits(max_states=900),
                        resume=path)
    assert whole.result.outcome == chained.result.outcome == "limit"
    for count in ("distinct", "transitions", "max_depth", "depth_cut"):
        assert getattr(chained.result.stats, count) == getattr(whole.result.stats, count), count


def test_random_walks_resume_where_they_stopped(tmp_path: Path) -> None:
    config, kernel = load_named_config(CONFIG), kernel_at("v5.16")
    whole = run_check(config, kernel, strategy="random", seed=7, limits=Limits(max_states=400))
    path = str(tmp_path / "ck")
    run_check(config, kernel, strategy="random", seed=7, limits=Limits(max_states=100),
              checkpoint=path)
    resumed = run_check(config, kernel, strategy="random", seed=7,
                        limits=Limits(max_states=400), resume=path)
    assert resumed.result.outcome == whole.result.outcome
    assert resumed.result.stats.distinct == whole.result.stats.distinct
    assert resumed.result.stats.transitions == whole.result.stats.transitions
