"""A write's body must declare its length: chunked writes are refused with 411.

Behind granian a chunked body the client never finished reaches the app as if it were
complete (tests/test_fuzz.py::test_incomplete_requests_are_not_applied shows it over a
real server); with a Content-Length the app can tell a short body (400). Reads may stream
their bodies as they like.
"""

from __future__ import annotations

import io

from .support import TOKEN

UPDATE = b"INSERT DATA { <urn:framing:s> <urn:framing:p> 1 }"
ASK = b"ASK { <urn:framing:s> <urn:framing:p> 1 }"


def chunked(body: bytes) -> dict[str, object]:
    """The environ a server gives an app for a chunked body: framing removed, no length."""
    return {"wsgi.input": io.BytesIO(body), "HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": "",
            "wsgi.input_terminated": True}


def _chunked_post(client, body: bytes, content_type: str, token: bool = True):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {TOKEN}"
    return client.post("/sparql", headers=headers, environ_overrides=chunked(body))


def _asks_true(client) -> bool:  # type: ignore[no-untyped-def]
    r = client.post("/sparql", data=ASK, headers={"Content-Type": "application/sparql-query",
                                                  "Accept": "application/sparql-results+json"})
    assert r.status_code == 200, r.data
    return bool(r.get_json()["boolean"])


def test_chunked_update_is_411_and_applies_nothing(client) -> None:  # type: ignore[no-untyped-def]
    r = _chunked_post(client, UPDATE, "application/sparql-update")
    assert r.status_code == 411 and b"Content-Length" in r.data
    assert not _asks_true(client)
    form = b"update=" + UPDATE.replace(b" ", b"%20")
    r = _chunked_post(client, form, "application/x-www-form-urlencoded")
    assert r.status_code == 411
    assert not _asks_true(client)


def test_chunked_graph_store_write_is_411(client) -> None:  # type: ignore[no-untyped-def]
    body = b"<urn:framing:s> <urn:framing:p> 1 ."
    r = client.put("/store?graph=urn:framing:g", environ_overrides=chunked(body), headers={
        "Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 411
    assert client.get("/store?graph=urn:framing:g").status_code == 404


def test_the_same_writes_with_a_length_are_applied(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/sparql", data=UPDATE, headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 204
    assert _asks_true(client)


def test_chunked_queries_are_answered(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/sparql", environ_overrides=chunked(ASK), headers={
        "Content-Type": "application/sparql-query", "Accept": "application/sparql-results+json"})
    assert r.status_code == 200 and r.get_json()["boolean"] is False


def test_writes_refused_for_other_reasons_say_so_first(client) -> None:  # type: ignore[no-untyped-def]
    """Without the token, a chunked write is a 401 (access is decided before framing)."""
    assert _chunked_post(client, UPDATE, "application/sparql-update", token=False
                         ).status_code == 401
