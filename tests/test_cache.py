"""The answer cache: ETags, 304s, Cache-Control, and invalidation by every kind of write."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from kgraph.config import Settings
from kgraph.sparql.protocol import ProtocolError
from kgraph.store import results as fmt
from kgraph.store.base import AskResult, GraphResult, SerializedResult
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app

from .support import auth

EX = "http://example.org/"
Q = f"SELECT ?o {{ <{EX}s> <{EX}p> ?o }} ORDER BY ?o"
JSON = {"Accept": "application/sparql-results+json"}


class CountingStore(OxigraphStore):
    """An in-memory store that counts the queries it evaluates."""

    def __init__(self) -> None:
        super().__init__(None)
        self.evaluated = 0

    def query(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.evaluated += 1
        return super().query(*args, **kwargs)


@pytest.fixture
def store() -> CountingStore:
    s = CountingStore()
    s.update(f'INSERT DATA {{ <{EX}s> <{EX}p> "one" . GRAPH <{EX}g> {{ <{EX}s> <{EX}p> "two" }} }}')
    return s


@pytest.fixture
def client(settings: Settings, store: CountingStore):  # type: ignore[no-untyped-def]
    return create_app(settings, store).test_client()


def values(r) -> list[str]:  # type: ignore[no-untyped-def]
    return [b["o"]["value"] for b in r.json["results"]["bindings"]]


def test_answer_carries_etag_and_revalidates_with_304(client, store) -> None:
    r = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert r.status_code == 200 and values(r) == ["one", "two"]
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Accept" in r.headers["Vary"]
    again = client.get("/sparql", query_string={"query": Q}, headers={**JSON, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    for name in ("ETag", "Vary", "Cache-Control"):
        assert again.headers[name] == r.headers[name]
    # weak form and lists are understood; another tag is not a match
    assert client.get("/sparql", query_string={"query": Q},
                      headers={**JSON, "If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert client.get("/sparql", query_string={"query": Q},
                      headers={**JSON, "If-None-Match": '"other"'}).status_code == 200


def test_repeated_query_is_served_from_memory(client, store) -> None:
    first = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    n = store.evaluated
    second = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert store.evaluated == n, "a repeated query must not reach the store"
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Type"] == first.headers["Content-Type"]


@pytest.mark.parametrize("other", [
    {"headers": {"Accept": "text/csv"}},
    {"headers": {"Accept": "application/json"}},  # same bytes, another Content-Type
    {"query_string": {"format": "xml"}},
    {"query_string": {"default-graph-uri": EX + "g"}},
    {"query_string": {"named-graph-uri": EX + "g"}},
    {"query_string": {"inference": "false"}},
])
def test_cache_never_crosses_formats_or_datasets(client, store, other: dict) -> None:
    base = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    n = store.evaluated
    params = {"query": Q, **other.get("query_string", {})}
    headers = other.get("headers", JSON)
    r = client.get("/sparql", query_string=params, headers=headers)
    assert store.evaluated == n + 1, "a different request must be evaluated"
    assert r.headers["ETag"] != base.headers["ETag"]
    assert (r.headers["Content-Type"], r.data) != (base.headers["Content-Type"], base.data) or \
        "inference" in params
    # revalidating with the other request's tag is not a match either
    r2 = client.get("/sparql", query_string=params,
                    headers={**headers, "If-None-Match": base.headers["ETag"]})
    assert r2.status_code == 200


def _write(client, kind: str) -> int:  # type: ignore[no-untyped-def]
    new = f"<{EX}s> <{EX}p> \"three\" ."
    if kind == "update":
        r = client.post("/sparql", data={"update": f"INSERT DATA {{ {new} }}"}, headers=auth())
    elif kind == "put":
        r = client.put(f"/store?graph={EX}g", data=new, content_type="text/turtle", headers=auth())
    elif kind == "post":
        r = client.post(f"/store?graph={EX}g", data=new, content_type="text/turtle", headers=auth())
    else:
        r = client.delete(f"/store?graph={EX}g", headers=auth())
    assert 200 <= r.status_code < 300, r.data
    return r.status_code


@pytest.mark.parametrize("kind", ["update", "put", "post", "delete"])
def test_every_write_invalidates_at_once(client, kind: str) -> None:
    a = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    tag_a = a.headers["ETag"]
    _write(client, kind)
    b = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert b.headers["ETag"] != tag_a
    expected = {"update": ["one", "three", "two"], "put": ["one", "three"],
                "post": ["one", "three", "two"], "delete": ["one"]}[kind]
    assert values(b) == expected
    c = client.get("/sparql", query_string={"query": Q}, headers={**JSON, "If-None-Match": tag_a})
    assert c.status_code == 200 and values(c) == expected


def test_write_behind_the_apps_back_is_seen_through_the_version(client, store) -> None:
    a = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    store.update(f'INSERT DATA {{ <{EX}s> <{EX}p> "direct" }}')  # e.g. another process's write
    b = client.get("/sparql", query_string={"query": Q, }, headers={**JSON, "If-None-Match": a.headers["ETag"]})
    assert b.status_code == 200 and "direct" in values(b)


class SlowWriteStore(OxigraphStore):
    """Moves its version when a write starts and lands the write only when released, like
    the in-process store (whose version counts writes as they begin)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.writing = threading.Event()
        self.land = threading.Event()

    def update(self, sparql, **kwargs):  # type: ignore[no-untyped-def]
        self._version += 1
        self.writing.set()
        assert self.land.wait(20)
        self._version -= 1  # super() counts it again
        return super().update(sparql, **kwargs)


def test_an_answer_computed_during_a_write_is_not_kept(settings) -> None:
    store = SlowWriteStore()
    client = create_app(settings, store).test_client()
    before = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    writer = threading.Thread(target=_write, args=(client, "update"))
    writer.start()
    assert store.writing.wait(10)
    during = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert values(during) == [] and "ETag" not in during.headers  # old data, new version
    assert during.headers["Cache-Control"] == "no-store"
    store.land.set()
    writer.join(10)
    after = client.get("/sparql", query_string={"query": Q}, headers={**JSON, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and values(after) == ["three"]
    assert after.headers["ETag"] != before.headers["ETag"]


def test_workers_of_one_server_give_one_answer_one_etag(settings, tmp_path, monkeypatch) -> None:
    path = tmp_path / "store"
    OxigraphStore(path).close()
    monkeypatch.setenv("KGRAPH_BOOT_ID", "boot-1")
    tags = [create_app(settings, OxigraphStore(path, read_only=True)).test_client()
            .get("/sparql", query_string={"query": Q}, headers=JSON).headers["ETag"] for _ in range(2)]
    assert tags[0] == tags[1]
    monkeypatch.setenv("KGRAPH_BOOT_ID", "boot-2")  # the next start of the server
    other = create_app(settings, OxigraphStore(path, read_only=True)).test_client()
    assert other.get("/sparql", query_string={"query": Q}, headers=JSON).headers["ETag"] != tags[0]
    monkeypatch.delenv("KGRAPH_BOOT_ID")  # without it, ids are private to an app
    a, b = (create_app(settings, OxigraphStore(path, read_only=True)).test_client()
            .get("/sparql", query_string={"query": Q}, headers=JSON).headers["ETag"] for _ in range(2))
    assert a != b


def test_post_queries_carry_etags_and_revalidate_with_get(client, store) -> None:
    p = client.post("/sparql", data={"query": Q}, headers=JSON)
    tag = p.headers["ETag"]
    assert client.get("/sparql", query_string={"query": Q},
                      headers={**JSON, "If-None-Match": tag}).status_code == 304
    direct = client.post("/sparql", data=Q.encode(), content_type="application/sparql-query",
                         headers=JSON)
    assert direct.headers["ETag"] == tag
    # a POST whose precondition fails answers 412 (RFC 9110), never a stale body
    r = client.post("/sparql", data={"query": Q}, headers={**JSON, "If-None-Match": tag})
    assert r.status_code == 412


def test_named_queries_are_cached_and_invalidated(client, settings, store) -> None:
    (settings.queries_dir / "objects.rq").write_text(Q + "\n")
    a = client.get("/queries/objects", headers=JSON)
    assert a.status_code == 200 and values(a) == ["one", "two"]
    n = store.evaluated
    assert client.get("/queries/objects", headers={**JSON, "If-None-Match": a.headers["ETag"]}).status_code == 304
    assert client.get("/queries/objects", headers=JSON).data == a.data
    assert store.evaluated == n
    _write(client, "update")
    b = client.get("/queries/objects", headers={**JSON, "If-None-Match": a.headers["ETag"]})
    assert b.status_code == 200 and values(b) == ["one", "three", "two"]


def test_errors_are_never_cached(client, store) -> None:
    bad = client.get("/sparql", query_string={"query": "SELECT * {"}, headers=JSON)
    assert bad.status_code == 400 and "ETag" not in bad.headers
    n = store.evaluated
    assert client.get("/sparql", query_string={"query": "SELECT * {"}, headers=JSON).status_code == 400
    assert store.evaluated == n + 1
    na = client.get("/sparql", query_string={"query": Q}, headers={"Accept": "image/png"})
    assert na.status_code == 406 and "ETag" not in na.headers


def test_cache_bounds(settings, store) -> None:
    app = create_app(replace(settings, cache_entries=2, cache_max_bytes=400), store)
    client = app.test_client()
    cache = app.extensions["kgraph"].cache
    for i in range(3):
        client.get("/sparql", query_string={"query": f"ASK {{ ?s ?p {i} }}"}, headers=JSON)
    assert len(cache) == 2
    n = store.evaluated
    client.get("/sparql", query_string={"query": "ASK { ?s ?p 0 }"}, headers=JSON)
    assert store.evaluated == n + 1, "the least recently used entry was dropped"
    big = "SELECT ?i { VALUES ?i { " + " ".join(map(str, range(100))) + " } }"
    r = client.get("/sparql", query_string={"query": big}, headers=JSON)
    assert len(r.data) > 400 and "ETag" in r.headers  # still revalidatable, just not kept
    n = store.evaluated
    client.get("/sparql", query_string={"query": big}, headers=JSON)
    assert store.evaluated == n + 1
    assert client.get("/sparql", query_string={"query": big},
                      headers={**JSON, "If-None-Match": r.headers["ETag"]}).status_code == 304


def test_streamed_answers_up_to_the_size_limit_are_kept(settings, store) -> None:
    client = create_app(replace(settings, cache_max_bytes=4 << 20), store).test_client()
    many = "SELECT ?i { VALUES ?i { " + " ".join(map(str, range(30000))) + " } }"
    r = client.get("/sparql", query_string={"query": many}, headers={"Accept": "text/csv"})
    assert "Content-Length" not in r.headers  # it streamed
    assert len(r.data) > 65536  # kept once sent whole
    n = store.evaluated
    again = client.get("/sparql", query_string={"query": many}, headers={"Accept": "text/csv"})
    assert store.evaluated == n and again.data == r.data


def test_max_age_setting(settings, store) -> None:
    client = create_app(replace(settings, cache_max_age_s=60), store).test_client()
    r = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert r.headers["Cache-Control"] == "public, max-age=60"


def test_head_and_cache(client) -> None:
    g = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    h = client.head("/sparql", query_string={"query": Q}, headers=JSON)
    assert h.status_code == 200 and h.data == b"" and h.headers["ETag"] == g.headers["ETag"]


class SerializingStore(OxigraphStore):
    """A store that writes its answers itself, like the worker-process pool."""

    def __init__(self) -> None:
        super().__init__(None)
        self.calls: list[tuple[str, str]] = []

    def query_serialized(self, sparql, *, dataset=None, base_iri=None, timeout_s=None,  # type: ignore[no-untyped-def]
                         solutions_format, graph_format):
        self.calls.append((solutions_format, graph_format))
        result = self.query(sparql, dataset=dataset, base_iri=base_iri)
        wanted = graph_format if isinstance(result, GraphResult) else solutions_format
        if wanted is None:  # the client accepts no type for this kind
            raise ProtocolError(406, "no acceptable type")
        if isinstance(result, GraphResult):
            chunks = fmt.stream_rdf(result.triples, graph_format)
            return SerializedResult("graph", graph_format, chunks)
        kind = "boolean" if isinstance(result, AskResult) else "solutions"
        text = fmt.write_solutions(result, solutions_format)
        return SerializedResult(kind, solutions_format, (c.encode() for c in text))


def test_stores_that_serialize_get_both_formats_and_are_streamed(settings) -> None:
    store = SerializingStore()
    store.update(f'INSERT DATA {{ <{EX}s> <{EX}p> "one" }}')
    client = create_app(settings, store).test_client()
    r = client.get("/sparql", query_string={"query": Q}, headers={"Accept": "text/csv, text/turtle"})
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data == b"o\r\none\r\n"
    assert store.calls[-1] == ("text/csv", "text/turtle")
    only_csv = client.get("/sparql", query_string={"query": Q}, headers={"Accept": "text/csv"})
    assert store.calls[-1] == ("text/csv", "text/turtle") and only_csv.status_code == 200
    c = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                   headers={"Accept": "text/csv, text/turtle"})
    assert c.mimetype == "text/turtle" and b"one" in c.data
    # a kind with no acceptable type is 406 only when the query is of that kind
    ok = client.get("/sparql", query_string={"query": Q}, headers={"Accept": "text/csv"})
    assert ok.status_code == 200
    na = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                    headers={"Accept": "text/csv"})
    assert na.status_code == 406
    calls = len(store.calls)
    assert client.get("/sparql", query_string={"query": Q}, headers={"Accept": "text/csv"}).data == ok.data
    assert len(store.calls) == calls  # cached
    many = "SELECT ?i { VALUES ?i { " + " ".join(map(str, range(20000))) + " } }"
    big = client.get("/sparql", query_string={"query": many}, headers={"Accept": "text/csv"})
    assert "Content-Length" not in big.headers
    assert big.get_data(as_text=True).splitlines() == ["i", *map(str, range(20000))]


def test_hit_is_much_faster_than_miss(settings) -> None:
    store = OxigraphStore(None)
    store.update("INSERT DATA { " + " ".join(
        f"<{EX}s{i}> <{EX}p> {i} ." for i in range(3000)) + " }")
    client = create_app(settings, store).test_client()
    q = f"SELECT (SUM(?o) AS ?n) {{ ?s <{EX}p> ?o . ?s2 <{EX}p> ?o }}"

    def timed(headers: dict[str, str]) -> float:
        started = time.perf_counter()
        assert client.get("/sparql", query_string={"query": q}, headers=headers).status_code == 200
        return time.perf_counter() - started

    misses = [timed({"Accept": a}) for a in ("application/sparql-results+json", "text/csv",
                                             "text/tab-separated-values")]
    hits = [timed({"Accept": "text/csv"}) for _ in range(5)]
    assert min(hits) * 3 < min(misses), (hits, misses)


def _without_request_id(headers) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted((k, v) for k, v in headers.items() if k != "X-Request-Id")


@pytest.mark.parametrize("params,headers", [
    ({}, JSON),
    ({}, {"Accept": "text/csv"}),
    ({"format": "tsv"}, {}),
    ({"default-graph-uri": EX + "g", "inference": "false"}, {"Accept": "application/json"}),
])
def test_fast_path_answers_exactly_like_the_app(settings, store, params, headers) -> None:
    from werkzeug.test import Client
    from werkzeug.wrappers import Response as WResponse

    app = create_app(settings, store)
    middleware = app.wsgi_app
    calls = []
    inner = middleware.app

    def counted(environ, start_response):  # type: ignore[no-untyped-def]
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    middleware.app = counted
    client = app.test_client()
    flask_only = Client(inner, WResponse)
    qs = {"query": Q, **params}
    first = flask_only.get("/sparql", query_string=qs, headers=headers)  # evaluated by the view
    fast = client.get("/sparql", query_string=qs, headers=headers)
    assert not calls, "the cached answer must not reach the Flask app"
    assert fast.status_code == first.status_code == 200 and fast.data == first.data
    assert _without_request_id(fast.headers) == _without_request_id(first.headers)
    assert fast.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    cond = {**headers, "If-None-Match": first.headers["ETag"]}
    fast304 = client.get("/sparql", query_string=qs, headers=cond)
    slow304 = flask_only.get("/sparql", query_string=qs, headers=cond)
    assert fast304.status_code == slow304.status_code == 304 and fast304.data == b""
    assert _without_request_id(fast304.headers) == _without_request_id(slow304.headers)
    head = client.head("/sparql", query_string=qs, headers=headers)
    slow_head = flask_only.head("/sparql", query_string=qs, headers=headers)
    assert head.data == b"" and _without_request_id(head.headers) == _without_request_id(slow_head.headers)
    assert not calls


def test_fast_path_leaves_everything_else_to_the_app(client) -> None:
    q = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert q.status_code == 200
    # the same cached query with something the view must judge
    for extra in ({"inference": "maybe"}, {"update": "CLEAR ALL"}, {"default-graph-uri": "rel"}):
        r = client.get("/sparql", query_string={"query": Q, **extra}, headers=JSON)
        assert r.status_code in (400, 405), extra
    r = client.get("/sparql?query=" + Q.replace(" ", "%20") + "%FF", headers=JSON)
    assert r.status_code == 400
    r = client.get("/sparql", query_string={"query": Q}, headers={"Accept": "image/png"})
    assert r.status_code == 406


def test_answers_that_call_remote_services_are_not_cached(client, store) -> None:
    from kgraph.namespaces import WIKIDATA_ENDPOINT
    from kgraph.sparql.protocol import QueryOperation

    endpoint = client.application.extensions["kgraph"].endpoint
    assert endpoint.calls_remote("SELECT * { SERVICE <http://203.0.113.9/sparql> { ?s ?p ?o } }")
    assert not endpoint.calls_remote("SELECT * { ?s ?p 'a service' }")
    # the Wikidata snapshot (the default) is a local graph: cacheable
    text, _ = endpoint.prepare(QueryOperation(f"SELECT * {{ SERVICE <{WIKIDATA_ENDPOINT}> {{ ?s ?p ?o }} }}"))
    assert not endpoint.calls_remote(text)

    endpoint.calls_remote = lambda text: True  # as if the query had called a live endpoint
    r = client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert r.status_code == 200 and "ETag" not in r.headers
    assert r.headers["Cache-Control"] == "no-store"
    n = store.evaluated
    client.get("/sparql", query_string={"query": Q}, headers=JSON)
    assert store.evaluated == n + 1


@pytest.mark.slow
def test_cache_over_worker_processes_and_the_writer(tmp_path, settings) -> None:
    """The same guarantees with the serving model's store: executors and one writer process."""
    from kgraph.store.pool import PooledStore
    from kgraph.store.writer import WriterClient, WriterProcess

    folder = tmp_path / "store"
    settings = replace(settings, store_path=folder, threads=2, query_timeout_s=20)
    writer = WriterProcess(settings, folder)
    writer.start(bootstrap=False)
    store = PooledStore(settings, folder, WriterClient(writer.address, writer.authkey))
    try:
        client = create_app(settings, store).test_client()
        assert _write(client, "update") == 204
        a = client.get("/sparql", query_string={"query": Q}, headers=JSON)
        assert a.status_code == 200 and values(a) == ["three"]
        assert client.get("/sparql", query_string={"query": Q},
                          headers={**JSON, "If-None-Match": a.headers["ETag"]}).status_code == 304
        for kind, expected in (("put", ["three", "three"]), ("delete", ["three"])):
            _write(client, kind)
            b = client.get("/sparql", query_string={"query": Q},
                           headers={**JSON, "If-None-Match": a.headers["ETag"]})
            assert b.status_code == 200 and values(b) == expected, kind
        c = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                       headers={"Accept": "text/csv"})
        assert c.status_code == 406
        many = "SELECT ?i { VALUES ?i { " + " ".join(map(str, range(20000))) + " } }"
        big = client.get("/sparql", query_string={"query": many}, headers={"Accept": "text/csv"})
        assert big.get_data(as_text=True).splitlines() == ["i", *map(str, range(20000))]
    finally:
        store.close()
        writer.stop()
