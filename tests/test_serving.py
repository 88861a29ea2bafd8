"""The serving model, tested on real server processes (slow) and on PooledStore in process: time limits that stop the work,
read-your-writes across workers, saturation, crashes, clean shutdown and streaming.

See docs/store.md, "Serving". Executors and the writer are found in the server's
process tree by their entry points (``executor_main``, ``writer_main``).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

from kgraph.store.base import RdfSyntaxError

from .support import ServerProcess, auth

RUNAWAY = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
#: Seconds of work on 300 triples (a filter over a 3-way cross product), not a runaway.
SLOW = ("SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
        "FILTER(?c + ?f > ?i && STRLEN(STR(?a)) > 0) }")
CHEAP = "ASK { <http://example.org/s/1/1> ?p ?o }"
JSON = {"Accept": "application/sparql-results+json"}


def seed(server: ServerProcess, rows: int = 30, cols: int = 100) -> None:
    """``rows * cols`` triples, made by the engine (one INSERT ... WHERE with VALUES)."""
    a = " ".join(str(i) for i in range(1, rows + 1))
    b = " ".join(str(i) for i in range(1, cols + 1))
    update = (
        "INSERT { ?s <http://example.org/p> ?o } WHERE { "
        f"VALUES ?a {{ {a} }} VALUES ?o {{ {b} }} "
        'BIND(IRI(CONCAT("http://example.org/s/", STR(?a), "/", STR(?o))) AS ?s) }'
    )
    r = requests.post(server.sparql, data={"update": update}, headers=auth(), timeout=60)
    assert r.status_code == 204, r.text


def processes(server: ServerProcess, entry: str) -> list[psutil.Process]:
    """Live descendants of the server whose command line runs ``entry``."""
    assert server.proc is not None
    found = []
    for proc in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            if any(entry in part for part in proc.cmdline()) and proc.status() != "zombie":
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def busiest(procs: list[psutil.Process], window: float = 0.5) -> psutil.Process | None:
    """The process whose CPU time grows most over ``window`` seconds (the one evaluating)."""
    before = {}
    for p in procs:
        try:
            before[p.pid] = sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    time.sleep(window)
    best, grown = None, 0.01
    for p in procs:
        try:
            delta = sum(p.cpu_times()[:2]) - before.get(p.pid, 0.0)
        except psutil.NoSuchProcess:
            continue
        if delta > grown:
            best, grown = p, delta
    return best


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Two workers, two executors each, a 2 s time limit, a few thousand triples."""
    srv = ServerProcess(tmp_path_factory.mktemp("serving") / "store",
                        ["--allow-update", "--no-bootstrap", "--workers", "2", "--threads", "2",
                         "--query-timeout", "2"])
    srv.start()
    seed(srv)
    yield srv
    srv.stop()


@pytest.mark.slow
def test_runaway_query_is_stopped_and_others_are_served(limited: ServerProcess) -> None:
    outcome: dict[str, object] = {}

    def runaway() -> None:
        started = time.monotonic()
        r = requests.get(limited.sparql, params={"query": RUNAWAY}, headers=JSON, timeout=60)
        outcome.update(status=r.status_code, text=r.text, seconds=time.monotonic() - started,
                       retry=r.headers.get("Retry-After"))

    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.5)
    evaluating = busiest(processes(limited, "executor_main"))
    assert evaluating is not None, "no executor is evaluating the runaway query"

    def cheap(_: int) -> tuple[int, float]:
        started = time.monotonic()
        with requests.Session() as client:
            r = client.get(limited.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
        return r.status_code, time.monotonic() - started

    with ThreadPoolExecutor(4) as clients:
        answers = list(clients.map(cheap, range(20)))
    assert [s for s, _ in answers] == [200] * 20
    assert max(t for _, t in answers) < 1.5, answers
    thread.join(30)
    assert outcome["status"] == 503, outcome
    assert "time limit" in str(outcome["text"]) and outcome["retry"], outcome
    assert float(outcome["seconds"]) < 2 + 3, outcome  # type: ignore[arg-type]
    # the process that ran it was killed: its CPU time cannot grow any more
    deadline = time.monotonic() + 5
    while not gone(evaluating) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(evaluating)
    r = requests.get(limited.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
    assert r.status_code == 200 and r.json()["boolean"] is True


@pytest.mark.slow
def test_runaway_update_is_stopped_and_nothing_is_applied(limited: ServerProcess) -> None:
    writer = processes(limited, "writer_main")
    assert len(writer) == 1
    update = "INSERT { ?a <http://example.org/runaway> ?c } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    started = time.monotonic()
    r = requests.post(limited.sparql, data={"update": update}, headers=auth(), timeout=60)
    assert r.status_code == 503 and "time limit" in r.text, r.text
    assert time.monotonic() - started < 2 + 3
    ask = requests.get(limited.sparql, headers=JSON, timeout=30,
                       params={"query": "ASK { ?a <http://example.org/runaway> ?c }"})
    assert ask.status_code == 200 and ask.json()["boolean"] is False
    # a new writer took over: the next write is applied and seen
    r = requests.post(limited.sparql, headers=auth(), timeout=60, data={
        "update": "INSERT DATA { <http://example.org/after> <http://example.org/p> 1 }"})
    assert r.status_code == 204, r.text
    assert gone(writer[0])
    ask = requests.get(limited.sparql, headers=JSON, timeout=30,
                       params={"query": "ASK { <http://example.org/after> ?p ?o }"})
    assert ask.json()["boolean"] is True


@pytest.mark.slow
def test_read_your_writes_across_workers(limited: ServerProcess) -> None:
    for i in range(50):
        subject = f"http://example.org/ryw/{uuid.uuid4()}"
        r = requests.post(limited.sparql, headers=auth(), timeout=30, data={
            "update": f"INSERT DATA {{ <{subject}> <http://example.org/n> {i} }}"})
        assert r.status_code == 204, r.text
        with requests.Session() as fresh:  # a new connection: any worker may answer
            ask = fresh.get(limited.sparql, headers=JSON, timeout=30,
                            params={"query": f"ASK {{ <{subject}> ?p ?o }}"})
        assert ask.status_code == 200 and ask.json()["boolean"] is True, (i, ask.text)


@pytest.mark.slow
@pytest.mark.parametrize(("how", "status", "says"), [
    (signal.SIGSEGV, 400, "crashed"),  # the engine died on the request: the request's doing
    (signal.SIGKILL, 503, "from outside"),  # an operator or the OOM killer: retry it
], ids=["crash", "killed"])
def test_executor_crash_costs_only_its_request(limited: ServerProcess, how: int, status: int,
                                               says: str) -> None:
    outcome: dict[str, object] = {}

    def victim() -> None:
        r = requests.get(limited.sparql, params={"query": RUNAWAY}, headers=JSON, timeout=60)
        outcome.update(status=r.status_code, text=r.text)

    thread = threading.Thread(target=victim)
    thread.start()
    time.sleep(0.3)
    evaluating = busiest(processes(limited, "executor_main"), window=0.5)
    assert evaluating is not None, outcome
    evaluating.send_signal(how)
    thread.join(30)
    assert outcome["status"] == status and says in str(outcome["text"]), outcome
    for _ in range(10):
        r = requests.get(limited.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
        assert r.status_code == 200


@pytest.mark.slow
def test_saturation_answers_503_never_500_never_hangs(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "store", [
        "--allow-update", "--no-bootstrap", "--workers", "1", "--threads", "1",
        "--max-queue", "1", "--queue-timeout", "0.3", "--query-timeout", "1.5"])
    srv.start()
    try:
        seed(srv)

        def slow(_: int) -> tuple[int, str | None]:
            with requests.Session() as client:
                r = client.get(srv.sparql, params={"query": RUNAWAY}, headers=JSON, timeout=30)
            return r.status_code, r.headers.get("Retry-After")

        started = time.monotonic()
        with ThreadPoolExecutor(6) as clients:
            answers = list(clients.map(slow, range(6)))
        assert time.monotonic() - started < 20
        statuses = [s for s, _ in answers]
        assert set(statuses) <= {200, 503}, answers
        assert statuses.count(503) >= 1
        assert all(retry for status, retry in answers if status == 503), answers
        r = requests.get(srv.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
        assert r.status_code == 200
    finally:
        srv.stop()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_process_outlives_the_server(tmp_path: Path, how: str) -> None:
    srv = ServerProcess(tmp_path / "store", ["--no-bootstrap", "--workers", "2", "--threads", "2"])
    srv.start()
    assert srv.proc is not None
    requests.get(srv.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
    tree = psutil.Process(srv.proc.pid).children(recursive=True)
    assert processes(srv, "executor_main") and processes(srv, "writer_main")
    os.kill(srv.proc.pid, getattr(signal, how))
    srv.proc.wait(30)
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert [p for p in alive if not gone(p)] == []
    srv.stop()


@pytest.mark.slow
def test_memory_store_is_served_and_removed(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    before = set(shm.glob("kgraph-memory-*")) if shm.is_dir() else set()
    srv = ServerProcess(tmp_path / "unused", ["--store", ":memory:", "--no-bootstrap",
                                              "--allow-update", "--workers", "1"])
    srv.start()
    try:
        seed(srv, 2, 2)
        r = requests.get(srv.sparql, headers=JSON, timeout=30,
                         params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
        assert r.json()["results"]["bindings"][0]["n"]["value"] == "4"
        assert not (tmp_path / "unused").exists()
    finally:
        srv.stop()
    if shm.is_dir():
        assert set(shm.glob("kgraph-memory-*")) <= before


@pytest.mark.slow
def test_large_select_streams_with_flat_memory(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "store", [
        "--allow-update", "--no-bootstrap", "--workers", "1", "--threads", "1",
        "--query-timeout", "300"])
    srv.start()
    try:
        seed(srv, 10, 100)  # 1,000 triples: their cross product is 10^6 rows
        query = ("SELECT ?a ?b WHERE { ?a <http://example.org/p> ?x . "
                 "?b <http://example.org/p> ?y }")
        (executor,) = processes(srv, "executor_main")
        started = time.monotonic()
        first_at = None
        received = 0
        samples: list[int] = []
        with requests.get(srv.sparql, params={"query": query}, headers=JSON, stream=True,
                          timeout=300) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(1 << 16):
                if first_at is None:
                    first_at = time.monotonic() - started
                received += len(chunk)
                if received // (8 << 20) > len(samples):  # every 8 MiB
                    samples.append(executor.memory_info().rss)
        total = time.monotonic() - started
        assert first_at is not None and first_at < total / 3, (first_at, total)
        assert received > 50_000_000  # 10^6 bindings of two IRIs
        assert len(samples) >= 4
        # flat: the executor never holds the answer (it grows by far less than it sends)
        assert max(samples) - samples[0] < 30 << 20, samples
    finally:
        srv.stop()


# -- the Store interface of PooledStore, in process (a real writer and real executors) ----
@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from kgraph.config import Settings
    from kgraph.store.pool import PooledStore
    from kgraph.store.writer import WriterClient, WriterProcess

    folder = tmp_path_factory.mktemp("pooled") / "store"
    settings = Settings(store_path=folder, bootstrap=False, threads=2, query_timeout_s=20)
    writer = WriterProcess(settings, folder)
    writer.start(bootstrap=False)
    # a process per query here (the tests below kill one of two); threads sharing a
    # process are tested in test_threads_sharing_an_executor_lose_no_request_to_a_time_limit
    old = os.environ.get("KGRAPH_EXECUTOR_THREADS")
    os.environ["KGRAPH_EXECUTOR_THREADS"] = "1"
    try:
        store = PooledStore(settings, folder, WriterClient(writer.address, writer.authkey))
    finally:
        if old is None:
            del os.environ["KGRAPH_EXECUTOR_THREADS"]
        else:
            os.environ["KGRAPH_EXECUTOR_THREADS"] = old
    yield store
    store.close()
    writer.stop()


def test_pooled_store_implements_the_store_interface(pooled: object) -> None:
    from pyoxigraph import Literal, NamedNode, Quad

    from kgraph.store.base import AskResult, GraphResult, SelectResult, Store

    store = pooled
    assert isinstance(store, Store)
    ex = "http://example.org/"
    v0 = store.version()
    store.update(f"INSERT DATA {{ <{ex}a> <{ex}p> 1 . GRAPH <{ex}g> {{ <{ex}a> <{ex}q> 'x' }} }}")
    assert store.version() > v0
    store.add_quads([Quad(NamedNode(ex + "b"), NamedNode(ex + "p"), Literal("y"),
                          NamedNode(ex + "h"))])
    assert store.named_graphs() == [ex + "g", ex + "h"]
    assert store.contains_graph(ex + "h") and not store.contains_graph(ex + "nope")
    assert store.count(None) == 1 and store.count(ex + "g") == 1 and store.count(...) == 3
    store.replace_graph(ex + "h", [Quad(NamedNode(ex + "c"), NamedNode(ex + "p"), Literal("z"))])
    assert [q.subject.value for q in store.match(None, None, None, ex + "h")] == [ex + "c"]
    assert len(list(store.triples(ex + "h"))) == 1 and len(list(store.quads())) == 3
    assert store.load(f"<{ex}d> <{ex}p> <{ex}e> .".encode(), "application/n-triples",
                      graph=ex + "l") == 1
    assert store.drop_graph(ex + "l") is True and store.drop_graph(ex + "l") is False
    select = store.query(f"SELECT ?s WHERE {{ ?s <{ex}p> ?o }} ORDER BY ?s")
    assert isinstance(select, SelectResult) and select.variables == ["s"]
    assert [row[0].value for row in select.rows] == [ex + "a", ex + "c"]
    ask = store.query(f"ASK {{ <{ex}a> ?p ?o }}")
    assert isinstance(ask, AskResult) and ask.value is True
    graph = store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{ex}g> {{ ?s ?p ?o }} }}")
    assert isinstance(graph, GraphResult) and len(list(graph.triples)) == 1
    import io

    out = io.BytesIO()
    store.dump(out, "application/n-quads")
    assert out.getvalue().count(b"\n") == 3


def test_pooled_store_bulk_load_is_one_write(pooled: object, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.nt", tmp_path / "bad.ttl"
    ex = "http://example.org/bulk/"
    good.write_text(f"<{ex}a> <{ex}p> \"1\" .\n<{ex}b> <{ex}p> \"2\" .\n", encoding="utf-8")
    bad.write_text(f"<{ex}c> <{ex}p> .\n", encoding="utf-8")
    seen: list[tuple[int, ...]] = []
    v0 = pooled.version()  # type: ignore[attr-defined]
    with pytest.raises(RdfSyntaxError):  # a bad file: nothing of the good one is stored
        pooled.bulk_load([good, bad], graph=ex + "g")  # type: ignore[attr-defined]
    assert pooled.version() == v0 and not pooled.contains_graph(ex + "g")  # type: ignore[attr-defined]
    n = pooled.bulk_load([good], graph=ex + "g",  # type: ignore[attr-defined]
                         progress=lambda *a: seen.append(a))
    assert n == 2 and pooled.count(ex + "g") == 2 and seen == [(good.stat().st_size, 2)]  # type: ignore[attr-defined]
    pooled.drop_graph(ex + "g")  # type: ignore[attr-defined]


def test_pooled_store_writes_answers_in_the_chosen_media_type(pooled: object) -> None:
    import csv
    import io
    import json
    import xml.etree.ElementTree as ET

    from kgraph.sparql.protocol import ProtocolError

    store = pooled
    ex = "http://example.org/"
    store.update(f"INSERT DATA {{ <{ex}m> <{ex}label> 'tab\\there, \"quoted\"'@en }}")
    query = f"SELECT ?s ?l WHERE {{ ?s <{ex}label> ?l }}"

    def answer(q: str, solutions: str | None, graph: str | None = None) -> tuple[str, bytes]:
        result = store.query_serialized(q, solutions_format=solutions, graph_format=graph)
        return result.kind, b"".join(result.chunks)

    kind, body = answer(query, "application/sparql-results+json")
    binding = json.loads(body)["results"]["bindings"][0]
    assert kind == "solutions" and binding["l"] == {
        "type": "literal", "value": 'tab\there, "quoted"', "xml:lang": "en"}
    _, body = answer(query, "application/sparql-results+xml")
    assert ET.fromstring(body).find(".//{http://www.w3.org/2005/sparql-results#}literal").text \
        == 'tab\there, "quoted"'
    _, body = answer(query, "text/csv")
    assert list(csv.reader(io.StringIO(body.decode()))) == [["s", "l"],
                                                            [ex + "m", 'tab\there, "quoted"']]
    _, body = answer(query, "text/tab-separated-values")
    assert body.decode().splitlines()[1] == f'<{ex}m>\t"tab\\there, \\"quoted\\""@en'
    kind, body = answer(f"ASK {{ <{ex}m> ?p ?o }}", "application/sparql-results+json")
    assert kind == "boolean" and json.loads(body)["boolean"] is True
    kind, body = answer(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ <{ex}m> ?p ?o . ?s ?p ?o }}",
                        "application/sparql-results+json", "application/n-triples")
    assert kind == "graph" and body.count(b"\n") == 1
    with pytest.raises(ProtocolError) as refused:
        answer(f"CONSTRUCT WHERE {{ <{ex}m> ?p ?o }}", "application/sparql-results+json", None)
    assert refused.value.status == 406


def test_pooled_store_errors_cross_as_store_exceptions(pooled: object) -> None:
    from kgraph.store.base import SparqlEvaluationError, SparqlSyntaxError

    store = pooled
    with pytest.raises(SparqlSyntaxError):
        store.query_serialized("SELEKT * {}", solutions_format="application/sparql-results+json")
    with pytest.raises(SparqlSyntaxError):
        store.update("INSERT DATUM { }")
    with pytest.raises(SparqlEvaluationError):
        store.update("CREATE GRAPH <http://example.org/g2> ; CREATE GRAPH <http://example.org/g2>")
    # nothing of the failed update was applied, and the store still answers
    assert not store.contains_graph("http://example.org/g2")


@pytest.mark.slow
def test_remote_engine_is_served_without_writer_or_executors(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    oxigraph = Path(sys.executable).parent / "oxigraph"
    engine = subprocess.Popen([str(oxigraph), "serve", "--location", str(tmp_path / "ox"),
                               "--bind", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    srv = ServerProcess(tmp_path / "unused", [
        "--store", base + "/query", "--update-endpoint", base + "/update",
        "--graph-store", base + "/store", "--no-bootstrap", "--allow-update", "--workers", "2"])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(base + "/query", params={"query": "ASK {}"}, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        srv.start()
        assert processes(srv, "executor_main") == [] and processes(srv, "writer_main") == []
        seed(srv, 2, 3)
        # the write went to the engine itself, and every worker reads it from there
        direct = requests.get(base + "/query", headers=JSON, timeout=10,
                              params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
        assert direct.json()["results"]["bindings"][0]["n"]["value"] == "6"
        for _ in range(6):
            with requests.Session() as fresh:
                r = fresh.get(srv.sparql, params={"query": CHEAP}, headers=JSON, timeout=30)
            assert r.status_code == 200 and r.json()["boolean"] is True
        # Each worker caches answers; a write through one must invalidate them all.
        count = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"
        before: set[str] = set()
        for _ in range(8):  # fresh connections land on both workers
            with requests.Session() as fresh:
                r = fresh.get(srv.sparql, params={"query": count}, headers=JSON, timeout=30)
            assert r.json()["results"]["bindings"][0]["n"]["value"] == "6"
            before.add(r.headers["ETag"])
        r = requests.post(srv.sparql, headers=auth(), timeout=30, data={
            "update": "INSERT DATA { <http://example.org/x> <http://example.org/p> 1 }"})
        assert r.status_code == 204
        for _ in range(8):
            with requests.Session() as fresh:
                r = fresh.get(srv.sparql, params={"query": count}, headers=JSON, timeout=30)
            assert r.json()["results"]["bindings"][0]["n"]["value"] == "7"
            assert r.headers["ETag"] not in before
    finally:
        srv.stop()
        engine.terminate()
        engine.wait(10)


def test_abandoned_answers_reuse_or_replace_the_executor(pooled: object) -> None:
    store = pooled
    store.update("INSERT { ?s <http://example.org/n> ?o } WHERE { VALUES ?a { 1 2 3 4 5 6 7 8 9 10 } "
                 "VALUES ?o { 1 2 3 4 5 6 7 8 9 10 } BIND(IRI(CONCAT('http://example.org/n/', "
                 "STR(?a))) AS ?s) }")
    json_type = "application/sparql-results+json"
    deadline = time.monotonic() + 30
    while len(store.pool.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = set(store.pool.pids())
    # a small answer given up after its first bytes is read to its end: no respawn
    small = store.query_serialized("SELECT * { ?s <http://example.org/n> ?o }",
                                   solutions_format=json_type)
    small.chunks.close()
    assert set(store.pool.pids()) == before
    # a large one (10^6 rows) is not waited for: that executor is replaced
    large = store.query_serialized(
        "SELECT * { ?a <http://example.org/n> ?b . ?c <http://example.org/n> ?d . "
        "?e <http://example.org/n> ?f }", solutions_format=json_type)
    next(iter(large.chunks))
    large.chunks.close()
    after = set(store.pool.pids())
    assert len(before - after) == 1
    while len(store.pool.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.query("ASK { ?s <http://example.org/n> 5 }").value is True


def test_an_executor_that_died_while_idle_costs_no_request(pooled: object) -> None:
    store = pooled
    deadline = time.monotonic() + 30
    while len(store.pool.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in store.pool.pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    for _ in range(4):
        assert store.query("ASK { ?s ?p ?o }").value is True


def test_an_idle_executor_that_died_is_replaced_without_a_request(pooled: object) -> None:
    store = pooled
    deadline = time.monotonic() + 30
    while len(store.pool.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = set(store.pool.pids())
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10  # the pool checks every 0.5 s; a spawn takes ~1 s
    while time.monotonic() < deadline:
        now = set(store.pool.pids())
        if victim not in now and len(now) == len(before):
            break
        time.sleep(0.1)
    now = set(store.pool.pids())
    assert victim not in now and len(now) == len(before), (before, now)


def _count_up(folder: str, until: int) -> None:
    from kgraph.store.snapshots import VersionCounter

    counter = VersionCounter(Path(folder), writable=True)
    for version in range(1, until + 1):
        counter.write(version)


def test_version_counter_is_never_read_torn(tmp_path: Path) -> None:
    """A reader in another process sees only published values, in order, while the
    writer crosses byte boundaries (255 -> 256, 65535 -> 65536) as fast as it can."""
    import multiprocessing

    from kgraph.store.snapshots import VersionCounter

    until = 200_000
    VersionCounter(tmp_path, writable=True).close()
    reader = VersionCounter(tmp_path)
    writer = multiprocessing.get_context("fork").Process(
        target=_count_up, args=(str(tmp_path), until))
    writer.start()
    seen, reads = 0, 0
    deadline = time.monotonic() + 30
    while seen < until and time.monotonic() < deadline:
        value = reader.read()
        assert seen <= value <= until, (seen, value)
        seen, reads = value, reads + 1
    writer.join(30)
    assert reader.read() == until and reads > 1
    reader.close()


def test_executors_cap_answers_in_every_format(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_result_rows`` holds for answers the engine writes (JSON, CSV) and kgraph writes
    (XML, TSV, RDF): exactly the cap passes, one more row is ResultTooLargeError."""
    from kgraph.config import Settings
    from kgraph.store.pool import PooledStore
    from kgraph.store.results import ResultTooLargeError
    from kgraph.store.writer import ENV_SETTINGS, WriterClient, WriterProcess, settings_to_json

    folder = tmp_path / "store"
    settings = Settings(store_path=folder, bootstrap=False, threads=1, query_timeout_s=20,
                        max_result_rows=5)
    monkeypatch.setenv(ENV_SETTINGS, settings_to_json(settings))  # what a worker is given
    writer = WriterProcess(settings, folder)
    writer.start(bootstrap=False)
    store = PooledStore(settings, folder, WriterClient(writer.address, writer.authkey))
    try:
        mimic = '"a},{b\\r\\n"'  # a literal whose text looks like row separators

        def rows(n: int, first: str = "0") -> str:
            values = " ".join([first] + [str(i) for i in range(1, n)])
            return "SELECT ?x { VALUES ?x { " + values + " } }"

        def triples(n: int) -> str:
            values = " ".join(str(i) for i in range(n))
            return f"CONSTRUCT {{ <urn:s> <urn:p> ?x }} WHERE {{ VALUES ?x {{ {values} }} }}"

        for media in ("application/sparql-results+json", "text/csv",
                      "application/sparql-results+xml", "text/tab-separated-values"):
            ok = store.query_serialized(rows(3, mimic), solutions_format=media,
                                        graph_format="text/turtle")
            assert b"".join(ok.chunks)  # over-counted by the mimic, still within the cap
            exact = store.query_serialized(rows(5), solutions_format=media,
                                           graph_format="text/turtle")
            assert b"".join(exact.chunks)  # the cap itself is allowed
            with pytest.raises(ResultTooLargeError):
                over = store.query_serialized(rows(6), solutions_format=media,
                                              graph_format="text/turtle")
                b"".join(over.chunks)
        assert b"".join(store.query_serialized(
            triples(5), solutions_format=None, graph_format="application/n-triples").chunks)
        with pytest.raises(ResultTooLargeError):
            b"".join(store.query_serialized(triples(6), solutions_format=None,
                                            graph_format="application/n-triples").chunks)
    finally:
        store.close()
        writer.stop()


@pytest.mark.slow
def test_threads_sharing_an_executor_lose_no_request_to_a_time_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With two query threads per executor process (``KGRAPH_EXECUTOR_THREADS``), the
    runaway query is stopped at its limit by killing the process; the other query that was
    running in it is sent again to the fresh process and answered in full."""
    from kgraph.config import Settings
    from kgraph.store.oxigraph import OxigraphStore
    from kgraph.store.pool import PooledStore
    from kgraph.store.snapshots import Publisher

    folder = tmp_path / "store"
    engine = OxigraphStore(folder)
    engine.update("INSERT DATA { " + " ".join(f"<http://example.org/s{i}> <http://example.org/p> {i} ."
                                              for i in range(300)) + " }")
    publisher = Publisher(folder, grace_s=60)
    publisher.publish(engine.native.backup)
    engine.close()
    monkeypatch.setenv("KGRAPH_EXECUTOR_THREADS", "2")
    store = PooledStore(Settings(threads=2, query_timeout_s=60), folder, None)
    try:
        deadline = time.monotonic() + 30
        while not store.pool.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = store.pool.pids()
        assert len(first) == 1  # two slots, one process
        json_type = "application/sparql-results+json"
        outcome: dict[str, object] = {}

        def runaway() -> None:
            try:
                b"".join(store.query_serialized(RUNAWAY[:-1] + ". ?j ?k ?l }",
                                                solutions_format=json_type,
                                                timeout_s=1.0).chunks)
            except Exception as exc:  # noqa: BLE001 - the outcome is what is tested
                outcome["runaway"] = type(exc).__name__

        def other() -> None:
            time.sleep(0.3)  # runs in the same process when the runaway one is stopped
            answer = store.query_serialized(SLOW, solutions_format=json_type)
            outcome["other"] = json.loads(b"".join(answer.chunks))

        threads = [threading.Thread(target=runaway), threading.Thread(target=other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert outcome["runaway"] == "QueryTimeoutError"
        n = outcome["other"]["results"]["bindings"][0]["n"]["value"]  # type: ignore[index]
        assert int(n) > 0
        assert store.resent == 1  # it was lost with the runaway one's process, and sent again
        assert store.pool.pids() and set(store.pool.pids()).isdisjoint(first)
    finally:
        store.close()
        publisher.close()


def test_granian_options_and_allocator_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``KGRAPH_GRANIAN`` adds granian options (measurements); ``KGRAPH_EXECUTOR_MALLOC``
    chooses the query processes' allocator."""
    from granian.constants import HTTPModes

    from kgraph.serve import _granian_options
    from kgraph.store import pool

    monkeypatch.setenv("KGRAPH_GRANIAN", '{"http": "1", "backpressure": 8}')
    assert _granian_options() == {"http": HTTPModes.http1, "backpressure": 8}
    monkeypatch.delenv("KGRAPH_GRANIAN")
    assert _granian_options() == {}
    pool.malloc_env.cache_clear()
    try:
        monkeypatch.setenv("KGRAPH_EXECUTOR_MALLOC", "system")
        assert pool.malloc_env() == {}
        pool.malloc_env.cache_clear()
        monkeypatch.setenv("KGRAPH_EXECUTOR_MALLOC", "/nonexistent/libmalloc.so")
        assert pool.malloc_env() == {}
        pool.malloc_env.cache_clear()
        monkeypatch.setenv("KGRAPH_EXECUTOR_MALLOC", "auto")
        monkeypatch.delenv("LD_PRELOAD", raising=False)
        found = [p for p in pool.JEMALLOC if os.path.exists(p)]
        assert pool.malloc_env() == ({"LD_PRELOAD": found[0]} if found else {})
    finally:
        pool.malloc_env.cache_clear()


def test_a_whole_answer_from_a_process_killed_meanwhile_is_kept() -> None:
    """Another thread's time limit may kill the process after this answer's last frame
    arrived and before its slot is handed back (its socket then closed): the answer
    stands, and the dead slot is not returned to the pool (seen once in the soak as a
    500 from ``settimeout`` on the closed socket)."""
    import socket as socketlib

    from kgraph.store import pool as poolmod

    class Pool:
        released: list[object] = []

        def release(self, proc: object) -> None:
            self.released.append(proc)

    class Engine:
        discarded = True

    a, b = socketlib.socketpair()
    b.close()
    slot = type("Slot", (), {})()
    slot.engine, slot.sock = Engine(), a
    a.close()  # what _Engine.kill does to every slot of the process
    call = object.__new__(poolmod._Call)
    call.pool, call.proc, call.buf, call.deadline = Pool(), slot, b"", None
    end = poolmod._FRAME.pack(b"E", 0)
    call.buf = poolmod._FRAME.pack(b"R", 3) + b"abc" + end
    assert list(call.frames()) == [(b"R", b"abc")]
    assert Pool.released == [] and call.proc is None
