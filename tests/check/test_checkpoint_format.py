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
from cowlab.check.checkpoint import _END, _LENGTH, _MAGIC, CheckpointError, load_checkpoint
from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.history import kernel_at
from cowlab.scenario.catalog import load_named_config

CONFIG = "gaudi-open"


def _sections(path: Path) -> tuple[dict, bytes]:
    """(header, the sections' bytes) of a checkpoint: magic, sections, header, length,
    closing magic."""
    data = path.read_bytes()
    (length,) = _LENGTH.unpack_from(data, len(data) - len(_END) - _LENGTH.size)
    header_at = len(data) - len(_END) - _LENGTH.size - length
    return json.loads(data[header_at : header_at + length]), data[len(_MAGIC) : header_at]


def _write(path: Path, header: dict, body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(_MAGIC + body + raw + _LENGTH.pack(len(raw)) + _END)


def _stopped_run(path: Path, states: int = 200, **kwargs):
    return run_check(
        load_named_config(CONFIG),
        kernel_at("v5.8"),
        limits=Limits(max_states=states),
        checkpoint=str(path),
        **kwargs,
    )


def test_nothing_in_a_checkpoint_is_pickled(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    header, body = _sections(path)
    assert [name for name, _, _ in header["sections"]] == [
        "fingerprints",
        "next-level",
        "links",
        "frontier",
        "frontier-objects",
        "search",
    ]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    mem = load_checkpoint(path, {})
    assert mem.stats.distinct >= 200 and len(mem.frontier) > 0
    search = json.loads(body[-header["sections"][-1][1] :])
    assert search["strategy"] == "bfs" and search["stats"]["distinct"] >= 200


def test_a_checkpoint_of_the_older_pickled_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    header, body = _sections(path)
    header["meta"]["format"] = 2
    _write(path, header, body)
    with pytest.raises(CheckpointError, match=r"checkpoint format 2 .*start the run again"):
        run_check(load_named_config(CONFIG), kernel_at("v5.8"), resume=str(path))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kernel": kernel_at("v5.16")}, "kernel"),
        ({"kernel": kernel_at("v5.17", revert=("80d47f5de5e3",))}, "kernel"),
        ({"reduce": False}, "reduce"),
        ({"sanity": False}, "sanity"),
        ({"strategy": "dfs"}, "strategy"),
        ({"fingerprint_bits": 128}, "fingerprint_bits"),
    ],
)
def test_a_checkpoint_is_resumed_only_by_its_own_run(tmp_path: Path, change: dict, field: str) -> None:
    path = tmp_path / "ck"
    run_check(
        load_named_config(CONFIG), kernel_at("v5.17"), limits=Limits(max_states=100), checkpoint=str(path)
    )
    args = {"kernel": kernel_at("v5.17"), **change}
    with pytest.raises(CheckpointError, match=f"checkpoint is for {field}="):
        run_check(load_named_config(CONFIG), resume=str(path), **args)


def test_a_change_to_the_configuration_content_is_refused(tmp_path: Path) -> None:
    """Same name, different content (a budget raised): its states are not this run's."""
    path = tmp_path / "ck"
    _stopped_run(path)
    config = load_named_config(CONFIG)
    more = dataclasses.replace(
        config, budgets=dataclasses.replace(config.budgets, numa_scan=config.budgets.numa_scan + 1)
    )
    with pytest.raises(CheckpointError, match="checkpoint is for config_sha256="):
        run_check(more, kernel_at("v5.8"), resume=str(path))


def test_a_change_to_the_model_source_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    monkeypatch.setattr(identity, "model_source_digest", lambda: "another model")
    with pytest.raises(CheckpointError, match="checkpoint is for model_source="):
        run_check(load_named_config(CONFIG), kernel_at("v5.8"), resume=str(path))


@pytest.mark.parametrize("where", ["start", "fingerprints", "frontier", "header", "trailer", "cut", "extra"])
def test_damage_anywhere_is_a_one_line_error(tmp_path: Path, where: str) -> None:
    path = tmp_path / "ck"
    _stopped_run(path)
    data = bytearray(path.read_bytes())
    header, body = _sections(path)
    names = [name for name, _, _ in header["sections"]]
    sizes = [size for _, size, _ in header["sections"]]
    offsets = {
        "start": 2,
        "fingerprints": len(_MAGIC) + 40,
        "frontier": len(_MAGIC) + sum(sizes[: names.index("frontier")]) + 60,
        "header": len(_MAGIC) + len(body) + 5,
        "trailer": len(data) - 3,
    }
    if where == "cut":
        del data[len(data) // 2 :]
    elif where == "extra":
        data[len(_MAGIC) + len(body) : len(_MAGIC) + len(body)] = b"\0"
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
    names = [name for name, _, _ in header["sections"]]
    sizes = [size for _, size, _ in header["sections"]]
    which = names.index("frontier-objects")
    at = sum(sizes[:which])
    objects = json.loads(body[at : at + sizes[which]])
    objects["values"][0] = {"record": "os.system", "fields": ["true"]}
    forged = json.dumps(objects).encode()
    import zlib

    header["sections"][which] = ["frontier-objects", len(forged), zlib.crc32(forged)]
    _write(path, header, body[:at] + forged + body[at + sizes[which] :])
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
    chained = run_check(config, kernel, strategy=strategy, limits=Limits(max_states=900), resume=path)
    assert whole.result.outcome == chained.result.outcome == "limit"
    for count in ("distinct", "transitions", "max_depth", "depth_cut"):
        assert getattr(chained.result.stats, count) == getattr(whole.result.stats, count), count


def test_random_walks_resume_where_they_stopped(tmp_path: Path) -> None:
    config, kernel = load_named_config(CONFIG), kernel_at("v5.16")
    whole = run_check(config, kernel, strategy="random", seed=7, limits=Limits(max_states=400))
    path = str(tmp_path / "ck")
    run_check(config, kernel, strategy="random", seed=7, limits=Limits(max_states=100), checkpoint=path)
    resumed = run_check(config, kernel, strategy="random", seed=7, limits=Limits(max_states=400), resume=path)
    assert resumed.result.outcome == whole.result.outcome
    assert resumed.result.stats.distinct == whole.result.stats.distinct
    assert resumed.result.stats.transitions == whole.result.stats.transitions


def test_the_frontier_streams_in_chunks_that_split_its_entries(tmp_path: Path) -> None:
    """Written in 100-byte chunks and read back in 37-byte ones, every entry comes back
    (equal objects shared again), so neither side holds the whole frontier at once."""
    from cowlab.check.frontier_codec import FrontierWriter, decode_frontier
    from cowlab.check.model import CheckModel
    from cowlab.check.search import explore, new_memory

    model = CheckModel(load_named_config(CONFIG), kernel_at("v5.8"))
    mem = new_memory(model, "bfs")
    explore(model, Limits(max_states=300), mem)
    entries = list(mem.frontier)
    writer = FrontierWriter(entries, chunk=100)
    data = b"".join(writer.entries())
    objects = b"".join(writer.objects())
    pieces = [data[i : i + 37] for i in range(0, len(data), 37)]
    back = list(decode_frontier(iter(pieces), objects))
    assert [(p.vector, p.spec, p.pcs, p.budgets, i, d) for p, i, d in back] == [
        (p.vector, p.spec, p.pcs, p.budgets, i, d) for p, i, d in entries
    ]
    assert len({id(p.spec) for p, _, _ in back}) <= len({p.spec for p, _, _ in entries})


def test_a_frontier_entry_keeps_a_partition_key_of_any_length() -> None:
    """A partition's entries hold a key (16 bits a level) where one process's hold a
    depth: written and read back whole, 0 and a key of 40 levels alike."""
    from cowlab.check.frontier_codec import FrontierWriter, decode_frontier
    from cowlab.check.model import CheckModel

    model = CheckModel(load_named_config(CONFIG), kernel_at("v5.8"))
    packed = model.pack(model.initial())
    places = [0, 1, 65_535, (1 << 640) - 3]
    writer = FrontierWriter([(packed, i, place) for i, place in enumerate(places)])
    data = b"".join(writer.entries())
    back = list(decode_frontier(data, b"".join(writer.objects())))
    assert [(i, place) for _, i, place in back] == list(enumerate(places))
