"""The Graph Store HTTP Protocol to the letter: POST to the graph store itself, multipart
POSTs, and HEAD answering with the headers GET would."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from kgraph.config import Settings
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app

from .support import TOKEN

WRITE = {"Authorization": f"Bearer {TOKEN}"}
NT = {"Accept": "application/n-triples"}
G = "http://example.org/g"
SEEDED = b"<http://example.org/a> <http://example.org/p> <http://example.org/b> .\n"


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    store = OxigraphStore(None)
    store.load(SEEDED, "application/n-triples", graph=G)
    return create_app(replace(settings, max_body_bytes=64 * 1024), store)


def _nt(client, graph: str) -> set[bytes]:  # type: ignore[no-untyped-def]
    r = client.get("/store", query_string={"graph": graph}, headers=NT)
    assert r.status_code == 200, r.data
    return set(r.data.splitlines())


def _form(**parts: tuple[bytes, str, str]) -> dict[str, tuple[io.BytesIO, str, str]]:
    return {name: (io.BytesIO(data), filename, ctype) for name, (data, filename, ctype)
            in parts.items()}


def test_post_to_the_store_creates_a_graph_named_by_location(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    r = client.post("/store", data=b"<http://x> <http://y> <z> .", content_type="text/turtle",
                    headers=WRITE)
    assert r.status_code == 201
    graph = r.headers["Location"]
    assert graph.startswith("http://localhost/store/") and "?" not in graph
    # the Location is the graph's IRI: indirect identification finds it ...
    assert _nt(client, graph) == {f"<http://x> <http://y> <{graph[:graph.rindex('/')]}/z> .".encode()}
    # ... and it is served at its own URL (direct identification) too
    direct = client.get(graph, headers=NT)
    assert direct.status_code == 200 and set(direct.data.splitlines()) == _nt(client, graph)
    second = client.post("/store", data=b"<http://x> <http://y> 2 .", content_type="text/turtle",
                         headers=WRITE).headers["Location"]
    assert second != graph and len(_nt(client, second)) == 1
    assert client.delete(graph, headers=WRITE).status_code == 204
    assert client.get("/store", query_string={"graph": graph}).status_code == 404


def test_new_graphs_are_minted_under_the_public_url(settings: Settings) -> None:
    app = create_app(replace(settings, public_url="https://kg.example.org/"), OxigraphStore(None))
    r = app.test_client().post("/store", data=b"<http://x> <http://y> 1 .",
                               content_type="text/turtle", headers={**WRITE, "Host": "in:1"})
    assert r.status_code == 201 and r.headers["Location"].startswith("https://kg.example.org/store/")
    assert app.extensions["kgraph"].store.contains_graph(r.headers["Location"])


def test_multipart_post_merges_every_part_into_the_graph(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    parts = _form(
        one=(b"<http://example.org/c> <http://example.org/p> _:b .", "one.nt",
             "application/n-triples"),
        two=(b"@prefix e: <http://example.org/> . e:d e:p _:b .", "two.ttl",
             "text/turtle; charset=utf-8"),
        three=(b"<http://example.org/e> <http://example.org/p> 3 .", "three.ttl",
               "application/octet-stream"),  # the file name says Turtle
    )
    r = client.post("/store", query_string={"graph": G}, data=parts,
                    content_type="multipart/form-data", headers=WRITE)
    assert r.status_code == 204, r.data
    lines = _nt(client, G)
    assert len(lines) == 4 and SEEDED.strip() in lines
    blanks = {line.split()[-2] for line in lines if b"_:" in line}
    assert len(blanks) == 2, "each part's _:b is a node of its own"
    # to the graph store itself: one new graph holding every part
    r = client.post("/store", data=_form(a=(b'<http://x> <http://y> "1" .', "a.nt", "text/plain"),
                                         b=(b"<http://x> <http://y> 2 .", "b.ttl", "text/turtle")),
                    content_type="multipart/form-data", headers=WRITE)
    assert r.status_code == 201 and len(_nt(client, r.headers["Location"])) == 2


def test_parts_without_a_file_name_are_read_too(app) -> None:  # type: ignore[no-untyped-def]
    body = (b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/turtle\r\n"
            b"\r\n<http://x> <http://y> <http://z> .\r\n--xx--\r\n")
    r = app.test_client().post("/store", data=body, headers={
        **WRITE, "Content-Type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 201, r.data


@pytest.mark.parametrize(("parts", "status", "named"), [
    ({"ok": (b'<http://x> <http://y> "1" .', "ok.nt", "application/n-triples"),
      "broken": (b"<http://x> <http://y> .", "broken.ttl", "text/turtle")}, 400, b"'broken.ttl'"),
    ({"ok": (b'<http://x> <http://y> "1" .', "ok.nt", "application/n-triples"),
      "png": (b"\x89PNG", "pic.png", "image/png")}, 415, b"'pic.png'"),
    ({"quads": (b'<http://x> <http://y> "1" <http://g> .', "q.nq", "application/n-quads")}, 415,
     b"'q.nq'"),
    ({"latin": (b"<http://x> <http://y> 'caf\xe9' .", "l.ttl", "text/turtle; charset=latin-1")},
     415, b"'l.ttl'"),
    ({"unknown": (b"<http://x> <http://y> 1 .", "data.bin", "application/octet-stream")}, 415,
     b"'data.bin'"),
])
def test_a_bad_part_is_named_and_nothing_is_written(app, parts, status: int, named: bytes) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    store = app.extensions["kgraph"].store
    before = store.count()
    r = client.post("/store", query_string={"graph": G}, data=_form(**parts),
                    content_type="multipart/form-data", headers=WRITE)
    assert r.status_code == status and named in r.data, r.data
    assert b"Traceback" not in r.data and b"/work" not in r.data
    r = client.post("/store", data=_form(**parts), content_type="multipart/form-data",
                    headers=WRITE)
    assert r.status_code == status
    assert store.count() == before and _nt(client, G) == {SEEDED.strip()}


@pytest.mark.parametrize(("ctype", "body", "status"), [
    ("multipart/form-data", b"--xx\r\n\r\n", 400),  # no boundary parameter
    ("multipart/form-data; boundary=xx", b"--xx\r\nContent-Type: text/turtle\r\n\r\n<a> <b> <c>",
     400),  # no Content-Disposition, no closing boundary
    ("multipart/form-data; boundary=xx", b"--xx--\r\n", 400),  # no parts
])
def test_a_malformed_multipart_body_is_400(app, ctype: str, body: bytes, status: int) -> None:  # type: ignore[no-untyped-def]
    r = app.test_client().post("/store", query_string={"graph": G}, data=body,
                               headers={**WRITE, "Content-Type": ctype})
    assert r.status_code == status, r.data
    assert _nt(app.test_client(), G) == {SEEDED.strip()}


def test_the_body_limit_holds_for_multipart(app) -> None:  # type: ignore[no-untyped-def]
    big = b"".join(b"<http://x> <http://y> %d .\n" % i for i in range(4000))  # > 64 KiB
    r = app.test_client().post("/store", query_string={"graph": G},
                               data=_form(a=(big, "a.nt", "application/n-triples")),
                               content_type="multipart/form-data", headers=WRITE)
    assert r.status_code == 413
    assert _nt(app.test_client(), G) == {SEEDED.strip()}


def test_multipart_is_for_post_only(app) -> None:  # type: ignore[no-untyped-def]
    r = app.test_client().put("/store", query_string={"graph": G},
                              data=_form(a=(b'<http://x> <http://y> "1" .', "a.nt", "text/plain")),
                              content_type="multipart/form-data", headers=WRITE)
    assert r.status_code == 415
    assert _nt(app.test_client(), G) == {SEEDED.strip()}


def _headers(r) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted((k, v) for k, v in r.headers.items() if k not in ("X-Request-Id", "Date"))


def test_head_carries_exactly_the_headers_of_get(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    big = b"".join(b"<http://example.org/s%d> <http://example.org/p> %d .\n" % (i, i)
                   for i in range(3000))
    app.extensions["kgraph"].store.load(big, "text/turtle", graph=G + "/big")
    minted = client.post("/store", data=b"<http://x> <http://y> 1 .", content_type="text/turtle",
                         headers=WRITE).headers["Location"]
    for url, accept in ((f"/store?graph={G}", "text/turtle"), (f"/store?graph={G}", None),
                        (f"/store?graph={G}/big", "application/n-triples"),
                        ("/store?default", "application/rdf+xml"), ("/store", None),
                        ("/store", "application/trig"), (minted, "text/turtle"),
                        ("/store?graph=http://example.org/none", None),
                        (f"/store?graph={G}", "image/png")):
        headers = {"Accept": accept} if accept else {}
        get, head = client.get(url, headers=headers), client.head(url, headers=headers)
        assert get.status_code == head.status_code, url
        assert _headers(get) == _headers(head), (url, accept)
        assert "Content-Type" in head.headers and head.data == b""


def test_a_host_that_makes_no_iri_cannot_mint_a_graph(app) -> None:  # type: ignore[no-untyped-def]
    store = app.extensions["kgraph"].store
    before = store.count()
    r = app.test_client().post("/store", data=b"<http://x> <http://y> 1 .",
                               content_type="text/turtle", headers={**WRITE, "Host": "bad>host"})
    assert r.status_code == 400 and b"KGRAPH_PUBLIC_URL" in r.data
    assert store.count() == before


def test_through_the_real_server(kb_server) -> None:  # type: ignore[no-untyped-def]
    """The served app (granian workers, the WSGI fast path): HEAD has GET's headers, the
    base IRI is the URL the request was sent to, and a UTF-16 query is refused."""
    import requests

    for path in ("/store?graph=https://w3id.org/kgraph/graph/ontology", "/store?default",
                 "/sparql?query=SELECT%20*%20%7B%3Fs%20%3Fp%20%3Fo%7D%20LIMIT%2050"):
        get = requests.get(kb_server.url + path, timeout=60)
        head = requests.head(kb_server.url + path, timeout=60)
        assert get.status_code == head.status_code == 200, path
        skip = {"date", "x-request-id", "transfer-encoding"}
        if "transfer-encoding" in {k.lower() for k in get.headers}:
            # a streamed answer has no length; the same answer from a worker's cache has one
            skip.add("content-length")
        assert ({k.lower(): v for k, v in get.headers.items() if k.lower() not in skip}
                == {k.lower(): v for k, v in head.headers.items() if k.lower() not in skip}), path
        assert "content-type" in {k.lower() for k in head.headers} and head.content == b""
    query = "CONSTRUCT { <s> <p> 1 } WHERE {}"
    for how in ({"data": query, "headers": {"Content-Type": "application/sparql-query"}},
                {"data": {"query": query}, "headers": {}}):
        r = requests.post(kb_server.sparql, timeout=60, data=how["data"],
                          headers={**how["headers"], "Accept": "application/n-triples"})
        assert r.status_code == 200 and r.text.startswith(f"<{kb_server.url}/s> "), r.text
    r = requests.get(kb_server.sparql, params={"query": query}, timeout=60,
                     headers={"Accept": "application/n-triples", "Host": "kg.test"})
    assert r.text.startswith("<http://kg.test/s> "), r.text
    r = requests.post(kb_server.sparql, data="ASK {}".encode("utf-16"), timeout=60,
                      headers={"Content-Type": "application/sparql-query; charset=UTF-16"})
    assert r.status_code == 415
