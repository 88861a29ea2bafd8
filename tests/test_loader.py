"""``kgraph load``: streamed through the engine's bulk loader, all or nothing.

All or nothing is tested the hard way: a syntax error in the last of three files,
and a load killed with SIGKILL half-way through a large file, must both leave the
store exactly as it was; a load that completes adds exactly the files' content.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyoxigraph import BlankNode, NamedNode

from kgraph import cli, loader
from kgraph.rdf import parse_rdf
from kgraph.store import open_store
from kgraph.store import staging as swap

ROOT = Path(__file__).resolve().parents[1]
EX = "http://example.org/"


def write_nt(path: Path, n: int, *, seed: str = "a", bnodes: bool = True) -> Path:
    """``n`` distinct triples (every tenth about a blank node ``_:b<k>``)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            s = f"_:b{i // 10}" if bnodes and i % 10 == 9 else f"<{EX}{seed}/s{i // 10}>"
            f.write(f'{s} <{EX}p{i % 10}> "{seed} value {i}" .\n')
    return path


def dump(store_dir: Path) -> list[str]:
    store = open_store(store_dir)
    try:
        out = io.BytesIO()
        store.dump(out, "application/n-quads")
    finally:
        store.close()
    return sorted(out.getvalue().decode("utf-8").splitlines())


def load(*args: object) -> int:
    return cli.main(["load", "-q", *map(str, args)])


def no_bnodes(lines: list[str]) -> list[str]:
    return [line for line in lines if "_:" not in line]


def expected_lines(*files: Path, graph: str | None = None) -> list[str]:
    """What the files hold, as N-Quads lines without blank-node statements."""
    out: set[str] = set()
    for path in files:
        for q in parse_rdf(path.read_bytes(), loader.media_type_for(path), graph=graph):
            if not isinstance(q.subject, BlankNode) and not isinstance(q.object, BlankNode):
                out.add(str(q) + " .")
    return sorted(out)


def test_syntax_error_in_the_last_of_three_files_changes_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    assert load("--store", store, write_nt(tmp_path / "old.nt", 50, seed="old")) == 0
    before = dump(store)
    good1 = write_nt(tmp_path / "one.nt", 200, seed="one")
    good2 = tmp_path / "two.ttl"
    good2.write_text(f"@prefix ex: <{EX}> .\nex:t ex:p ex:o , ex:o2 .\n", encoding="utf-8")
    bad = tmp_path / "three.nt"
    bad.write_text(f'<{EX}s> <{EX}p> <{EX}o> .\n<{EX}s> <{EX}p> "unterminated .\n',
                   encoding="utf-8")
    capsys.readouterr()
    assert load("--store", store, good1, good2, bad) == 1
    err = capsys.readouterr().err
    assert "three.nt" in err and "line 2" in err and "nothing was loaded" in err
    assert dump(store) == before
    assert not swap.staging_dirs(store)[0].exists()


def test_a_completed_load_adds_exactly_the_files(tmp_path: Path) -> None:
    store = tmp_path / "store"
    old = write_nt(tmp_path / "old.nt", 100, seed="old")
    assert load("--store", store, old) == 0
    before = dump(store)
    nt = write_nt(tmp_path / "new.nt", 300, seed="new")
    ttl = tmp_path / "new.ttl"
    ttl.write_text(f"@prefix ex: <{EX}> .\nex:t ex:p ex:o , ex:o2 ; ex:q [ ex:r 1 ] .\n",
                   encoding="utf-8")
    nq = tmp_path / "new.nq"
    nq.write_text(f"<{EX}a> <{EX}b> <{EX}c> <{EX}g1> .\n<{EX}a> <{EX}b> <{EX}d> .\n",
                  encoding="utf-8")
    assert load("--store", store, nt, ttl, nq, "--graph", EX + "loaded") == 0
    after = dump(store)
    assert set(before) <= set(after)
    assert no_bnodes(after) == sorted(set(no_bnodes(before))
                                      | set(expected_lines(nt, ttl, nq, graph=EX + "loaded")))
    assert len(after) == len(before) + 300 + 4 + 2  # 30 blank-node triples among the 300
    assert f"<{EX}a> <{EX}b> <{EX}c> <{EX}g1> ." in after  # a dataset keeps its graph names
    assert f"<{EX}a> <{EX}b> <{EX}d> <{EX}loaded> ." in after


def test_blank_nodes_are_distinct_per_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.nt", tmp_path / "b.nt"
    a.write_text(f'_:x <{EX}p> "a" .\n', encoding="utf-8")
    b.write_text(f'_:x <{EX}p> "b" .\n', encoding="utf-8")
    for location in (tmp_path / "store", None):
        store = open_store(location)
        assert loader.load_files(store, [a, b], progress=False) == 2
        subjects = {q.subject for q in store.match(None, NamedNode(EX + "p"), None)}
        assert len(subjects) == 2 and all(isinstance(s, BlankNode) for s in subjects)
        store.close()


def test_in_memory_store_loads_all_or_nothing(tmp_path: Path) -> None:
    store = open_store(None)
    assert loader.load_files(store, [write_nt(tmp_path / "a.nt", 40)], progress=False) == 40
    version = store.version()
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:a ex:b", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.ttl"):
        loader.load_files(store, [write_nt(tmp_path / "b.nt", 40, seed="b"), bad], progress=False)
    assert store.count(all_graphs=True) == 40 and store.version() == version


def test_unknown_extension_and_missing_file_are_refused_before_reading(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    (tmp_path / "x.csv").write_text("a,b\n", encoding="utf-8")
    assert load("--store", store, write_nt(tmp_path / "a.nt", 5), tmp_path / "x.csv") == 1
    assert "unknown RDF extension" in capsys.readouterr().err
    assert load("--store", store, tmp_path / "missing.nt") == 1
    assert "no such file" in capsys.readouterr().err


def test_the_fallback_swap_without_rename_exchange_is_recovered(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Where renameat2 is missing the swap takes two renames; a death between them is repaired."""
    class NoLibc:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

    monkeypatch.setattr(swap.ctypes, "CDLL", NoLibc)
    store = tmp_path / "store"
    assert load("--store", store, write_nt(tmp_path / "a.nt", 20, bnodes=False)) == 0
    assert load("--store", store, write_nt(tmp_path / "b.nt", 30, seed="b", bnodes=False)) == 0
    full = dump(store)
    assert len(full) == 50
    staging, parked = swap.staging_dirs(store)
    assert not staging.exists() and not parked.exists()
    # dead between the two renames, before the commit record: the old store comes back
    os.rename(store, parked)
    swap.recover_interrupted_load(store)
    assert dump(store) == full
    # dead between the two renames after the commit record: the staged copy becomes the store
    os.rename(store, parked)
    staged = open_store(staging)
    staged.load(b"<http://example.org/x> <http://example.org/y> <http://example.org/z> .",
                "application/n-triples")
    staged.close()
    (staging / ".kgraph-load-complete").touch()
    swap.recover_interrupted_load(store)
    assert not parked.exists() and not (store / ".kgraph-load-complete").exists()
    assert dump(store) == [f"<{EX}x> <{EX}y> <{EX}z> ."]


@pytest.mark.slow
def test_a_load_killed_half_way_leaves_exactly_the_old_content(tmp_path: Path) -> None:
    store = tmp_path / "store"
    old = write_nt(tmp_path / "old.nt", 1000, seed="old")
    assert load("--store", store, old) == 0
    before = dump(store)
    big = write_nt(tmp_path / "big.nt", 1_500_000, seed="big")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgraph.cli", "load", "--store", str(store), str(big)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    staging = swap.staging_dirs(store)[0]
    deadline = time.monotonic() + 120
    while not staging.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(2.0)  # well into the file: the bulk loader has written to the staging copy
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert staging.exists()  # what the killed load left behind
    assert dump(store) == before
    # the next load cleans the leftover and adds exactly its file
    small = write_nt(tmp_path / "small.nt", 50, seed="small", bnodes=False)
    assert load("--store", store, small) == 0
    assert not staging.exists()
    assert dump(store) == sorted(before + expected_lines(small))


def test_a_handle_still_in_use_is_refused_not_swapped_under_it(tmp_path: Path) -> None:
    from kgraph.store import StoreError

    location = tmp_path / "store"
    store = open_store(location)
    store.load(f"<{EX}a> <{EX}b> <{EX}c> .".encode(), "application/n-triples")
    pending = store.match()  # an iterator keeps the RocksDB handle open
    with pytest.raises(StoreError, match="still in use"):
        store.bulk_load([write_nt(tmp_path / "a.nt", 10)])
    del pending
    assert dump(location) == [f"<{EX}a> <{EX}b> <{EX}c> ."]
    assert not swap.staging_dirs(location)[0].exists()


def test_the_progress_bar_takes_bytes_and_lines_or_a_count_of_quads(tmp_path: Path) -> None:
    f = write_nt(tmp_path / "a.nt", 10)
    bar = loader.LoadProgress([f])
    bar.bar.fp = io.StringIO()  # keep the test's stderr clean
    bar(f.stat().st_size, 10)
    bar(5)  # a remote engine's bulk path reports the quads it sent
    assert bar.lines == 15 and bar.bar.n == f.stat().st_size
    bar.close()


from .engines import engine_fixture, oxigraph_engine_fixture  # noqa: E402,F401 - fixtures


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["oxigraph"], indirect=True)
def test_kgraph_load_into_a_remote_engine(engine, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``kgraph load --store URL`` uses the remote engine's own bulk path."""
    monkeypatch.setenv("KGRAPH_UPDATE_URL", engine.update_url)
    monkeypatch.setenv("KGRAPH_GRAPH_STORE_URL", engine.graph_store_url)
    for key, value in engine.server_env().items():
        monkeypatch.setenv(key, value)
    f = write_nt(tmp_path / "a.nt", 120, bnodes=False)
    assert load(f, "--store", engine.query_url, "--graph", EX + "remote") == 0
    store = engine.store()
    assert store.count(EX + "remote") == 120
    store.close()
