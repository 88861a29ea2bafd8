"""The query editor: its routes and JSON helpers (in-process), the vendored assets, and
the editor itself in headless Chromium against the knowledge-base server (``kb_server``).

Every browser test runs in a page that fails on any request leaving 127.0.0.1 and on
any JavaScript error (tests/browser.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyoxigraph import Literal, NamedNode, Quad
from werkzeug.serving import make_server

from kgraph.config import Settings
from kgraph.namespaces import KGO, KGR, OWL, RDF, XSD
from kgraph.store import open_store
from kgraph.web import create_app, ui

from .browser import is_loopback_url, screenshot
from .support import TOKEN

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "kgraph" / "web" / "static"
VENDOR = STATIC / "vendor"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
EX = "http://example.org/ui#"

SOLUTION_TYPES = ["application/sparql-results+json", "application/sparql-results+xml",
                  "text/csv", "text/tab-separated-values"]
GRAPH_TYPES = ["text/turtle", "application/n-triples", "application/rdf+xml",
               "application/ld+json"]


# -- routes (in-process app over an in-memory store) --------------------------------------
def test_root_serves_the_editor_with_local_assets_only(client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    for asset in ("vendor/yasqe/yasqe.min.js", "vendor/yasr/yasr.min.js",
                  "vendor/vis-network/vis-network.min.js", "js/editor.js", "css/kgraph.css"):
        assert f'/static/{asset}"' in page
    assert "https://" not in page.split('id="kg-config"')[0].split("<main")[0]  # head: no CDN
    for tag in ("<script src=", "<link rel=\"stylesheet\" href="):
        for ref in page.split(tag)[1:]:
            assert ref.startswith('"/static/'), ref[:80]
    # the nav bar of the shared layout
    for label in ("Editor", "Graph", "Timeline", "Article", "Scenario", "Ontology"):
        assert f">{label}</a>" in page


def test_sparql_is_the_editor_only_for_a_browser_asking_no_query(client) -> None:
    r = client.get("/sparql", headers={"Accept": HTML})
    assert r.status_code == 200 and r.mimetype == "text/html" and b'id="kg-yasqe"' in r.data
    r = client.get("/sparql", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.mimetype == "text/turtle"  # the service description
    r = client.get("/sparql", query_string={"query": "ASK {}"},
                   headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200 and r.get_json()["boolean"] is True  # the empty pattern matches once
    r = client.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": HTML})
    assert b'id="kg-yasqe"' not in r.data
    r = client.post("/sparql", data={"query": "ASK {}"}, headers={"Accept": HTML})
    assert b'id="kg-yasqe"' not in r.data


def test_root_prefills_a_query_and_lists_the_named_queries(client, settings) -> None:
    (settings.queries_dir / "things.rq").write_text("# All things.\nSELECT * { ?s ?p ?o }\n")
    page = client.get("/", query_string={"query": "ASK { <x:a> ?p ?o }"}).get_data(as_text=True)
    assert "ASK { &lt;x:a&gt; ?p ?o }" in page  # escaped into the text area
    assert 'data-name="things"' in page and "All things." in page
    config = json.loads(page.split('id="kg-config">')[1].split("</script>")[0])
    assert config["examples"] == [{"name": "things", "description": "All things.",
                                   "query": "# All things.\nSELECT * { ?s ?p ?o }\n"}]
    assert config["endpoint"] == "/sparql"
    assert [f["media_type"] for f in config["formats"]["solutions"]] == SOLUTION_TYPES
    assert [f["media_type"] for f in config["formats"]["graph"]] == GRAPH_TYPES


def test_prefixes_are_kgraphs_own_and_the_ontologys(app, client, tmp_path: Path) -> None:
    prefixes = client.get("/ui/prefixes.json").get_json()["prefixes"]
    assert prefixes["kgo"] == KGO and prefixes["kgr"] == KGR and prefixes["xsd"] == XSD
    onto = tmp_path / "onto"
    onto.mkdir()
    (onto / "a.ttl").write_text("@prefix zz: <http://example.org/zz#> .\n"
                                "@prefix kgo: <http://example.org/not-kgo#> .\nzz:a zz:b zz:c .\n")
    (onto / "broken.ttl").write_text("@prefix yy: <http://example.org/yy#> .\nthis is not turtle")
    merged = ui.all_prefixes(onto)
    assert merged["zz"] == "http://example.org/zz#"
    assert merged["kgo"] == KGO  # kgraph's own win a clash
    assert list(merged) == sorted(merged)


def test_completions_come_from_the_store_and_follow_its_changes(app, client) -> None:
    store = app.extensions["kgraph"].store
    store.add_quads([
        Quad(NamedNode(EX + "w1"), NamedNode(RDF + "type"), NamedNode(EX + "Widget")),
        Quad(NamedNode(EX + "w1"), NamedNode(EX + "size"), Literal("3")),
        Quad(NamedNode(EX + "Gadget"), NamedNode(RDF + "type"), NamedNode(OWL + "Class")),
        Quad(NamedNode(EX + "colour"), NamedNode(RDF + "type"), NamedNode(OWL + "DatatypeProperty")),
    ])
    classes = client.get("/ui/completions.json?kind=class").get_json()
    assert {EX + "Widget", EX + "Gadget", OWL + "Class"} <= set(classes["terms"])
    assert EX + "size" not in classes["terms"] and classes["truncated"] is False
    props = client.get("/ui/completions.json?kind=property").get_json()["terms"]
    assert {EX + "size", EX + "colour", RDF + "type"} <= set(props)
    store.add_quads([Quad(NamedNode(EX + "w2"), NamedNode(RDF + "type"), NamedNode(EX + "Gizmo"))])
    assert EX + "Gizmo" in client.get("/ui/completions.json?kind=class").get_json()["terms"]


def test_completion_lists_are_bounded(app, client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "MAX_TERMS", 3)
    store = app.extensions["kgraph"].store
    store.add_quads([Quad(NamedNode(f"{EX}i{n}"), NamedNode(RDF + "type"), NamedNode(f"{EX}C{n}"))
                     for n in range(6)])
    answer = client.get("/ui/completions.json?kind=class").get_json()
    assert len(answer["terms"]) == 3 and answer["truncated"] is True
    assert "LIMIT 4" in ui.completion_query("class")  # the engine reads one past the bound


@pytest.mark.parametrize("kind", ["", "classes", "x" * 500])
def test_a_bad_completion_kind_is_a_400(client, kind: str) -> None:
    r = client.get("/ui/completions.json", query_string={"kind": kind})
    assert r.status_code == 400
    assert "Traceback" not in r.get_data(as_text=True) and "/src/" not in r.get_data(as_text=True)


def test_vendored_files_match_the_manifest(client) -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    shipped = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert shipped - {"MANIFEST.json"} == set(manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
    wanted = json.loads((ROOT / "web" / "package.json").read_text())["dependencies"]
    for pkg, version in wanted.items():
        assert lock["packages"][f"node_modules/{pkg}"]["version"] == version
        assert manifest["packages"][pkg]["version"] == version
        assert (VENDOR / "LICENSES" / (pkg.replace("/", "__") + ".txt")).is_file()
    assert len(list((VENDOR / "LICENSES").iterdir())) == len(manifest["packages"])
    r = client.get("/static/vendor/yasqe/yasqe.min.js")
    assert r.status_code == 200 and len(r.data) > 100_000
    r.close()


def test_only_loopback_counts_as_local() -> None:
    for url in ("http://127.0.0.1:8000/sparql", "http://localhost/x", "http://[::1]:9/",
                "data:text/plain,x", "blob:http://127.0.0.1/abc", "about:blank"):
        assert is_loopback_url(url), url
    for url in ("https://prefix.cc/popular/all.file.json", "https://lov.linkeddata.es/dataset",
                "http://10.0.0.1/", "https://w3id.org/kgraph/resource/USA", "http://127.0.0.1.example/"):
        assert not is_loopback_url(url), url


# -- the editor in Chromium -----------------------------------------------------------------
def _open_editor(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-editor-ready=true]")


def _run(page: Any, query: str | None = None) -> None:
    if query is not None:
        page.evaluate("q => kgraphEditor.yasqe.setValue(q)", query)
    # the button stops a query still running (Yasqe's toggle): wait until none is
    page.wait_for_function("() => !kgraphEditor.yasqe.req")
    page.evaluate("() => { document.body.dataset.view = ''; }")
    page.click(".yasqe_queryButton")
    page.wait_for_function("() => document.body.dataset.view && !kgraphEditor.yasqe.req")


def _view(page: Any) -> str:
    view = page.evaluate("() => document.body.dataset.view")
    if view == "error":  # say what the endpoint answered
        return f"error: {page.locator('#kg-yasr .errorResult').inner_text()[:500]}"
    return view


def _check_downloads(page: Any, kb_server, media_types: list[str]) -> None:
    links = page.locator("#kg-downloads a")
    assert [links.nth(i).get_attribute("data-media-type") for i in range(links.count())] \
        == media_types
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        assert links.nth(i).get_attribute("download")
        r = requests.get(kb_server.url + href, timeout=30)
        assert r.status_code == 200, (href, r.text[:200])
        assert r.headers["Content-Type"].split(";")[0] == media_types[i]
        assert r.content


def test_editor_runs_a_query_and_shows_the_table(page, kb_server) -> None:
    _open_editor(page, kb_server.url)
    assert page.locator(".CodeMirror .cm-keyword").count() >= 3  # SELECT, WHERE, ... highlighted
    assert page.locator(".CodeMirror span.cm-variable-2, .CodeMirror span.cm-atom").count() > 0
    _run(page)
    assert _view(page) == "table"
    rows = page.locator("#kg-yasr table tbody tr")
    assert rows.count() >= 3
    assert "United States" in page.locator("#kg-yasr table").inner_text()
    # kgraph's IRIs link to this server's own pages
    href = page.locator("#kg-yasr table tbody a[href*='/resource/']").first.get_attribute("href")
    assert href.startswith(kb_server.url + "/resource/")
    _check_downloads(page, kb_server, SOLUTION_TYPES)
    assert not page.locator(".yasr_downloadIcon").is_visible()  # no client-side CSV instead
    screenshot(page, "editor", also=ROOT / "docs" / "screenshots" / "editor.png")


def test_an_example_loads_and_a_construct_is_a_graph(page, kb_server) -> None:
    _open_editor(page, kb_server.url)
    page.click(".kg-example[data-name=states]")
    value = page.evaluate("() => kgraphEditor.yasqe.getValue()")
    assert value == (ROOT / "queries" / "states.rq").read_text(encoding="utf-8")
    _run(page)
    assert _view(page) == "table" and page.locator("#kg-yasr table tbody tr").count() >= 3
    construct = ("PREFIX kgo: <https://w3id.org/kgraph/ontology#>\n"
                 "CONSTRUCT { ?s a kgo:State ; ?p ?o } WHERE { ?s a kgo:State ; ?p ?o } LIMIT 200")
    _run(page, construct)
    assert _view(page) == "graph"
    graph = page.locator(".kg-graph-view")
    assert int(graph.get_attribute("data-nodes")) > 3 and int(graph.get_attribute("data-edges")) > 3
    assert graph.locator("canvas").count() == 1
    _check_downloads(page, kb_server, GRAPH_TYPES)
    graph.scroll_into_view_if_needed()
    screenshot(page, "editor-graph")
    _run(page, "#defaultView:Table\n" + construct)
    assert _view(page) == "table" and page.locator("#kg-yasr table tbody tr").count() > 3


def test_dates_give_a_timeline_and_the_comment_picks_the_view(page, kb_server) -> None:
    _open_editor(page, kb_server.url)
    dated = ("PREFIX kgo: <https://w3id.org/kgraph/ontology#>\n"
             "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
             "SELECT ?event ?label ?date WHERE { ?event kgo:date ?date .\n"
             "  OPTIONAL { ?event rdfs:label ?label } } LIMIT 100")
    _run(page, dated)
    assert _view(page) == "table"
    assert "disabled" not in page.locator(".select_timeline").get_attribute("class")
    _run(page, "#defaultView:Timeline\n" + dated)
    assert _view(page) == "timeline"
    timeline = page.locator(".kg-timeline-view")
    assert int(timeline.get_attribute("data-items")) > 0
    page.wait_for_selector(".kg-timeline-view .vis-item")  # vis draws on a later frame
    page.wait_for_selector(".kg-timeline-view .vis-time-axis .vis-text:not(.vis-measure)")
    timeline.scroll_into_view_if_needed()
    screenshot(page, "editor-timeline")
    _run(page, "# defaultView:Graph\n" + dated)  # a solution table as a graph
    assert _view(page) == "graph"
    # values are text in every view, never markup
    probe = '<img src="/xss-probe" onerror="window.xssFired=1">'
    hostile = ("PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>\nSELECT ?item ?label ?date WHERE {"
               f" VALUES (?item ?label ?date) {{ (<urn:x:1> '{probe}' '2020-01-01'^^xsd:date) }} }}")
    for view in ("Timeline", "Graph", "Table"):
        _run(page, f"#defaultView:{view}\n" + hostile)
        assert _view(page) == view.lower()
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.xssFired") is None, view
    assert probe in page.locator("#kg-yasr table").inner_text()
    # no dates: no timeline to pick
    _run(page, "SELECT ?x WHERE { VALUES ?x { 1 2 } }")
    assert "disabled" in page.locator(".select_timeline").get_attribute("class")


def _hints(page: Any) -> list[str]:
    page.wait_for_selector(".CodeMirror-hints .CodeMirror-hint")
    return page.locator(".CodeMirror-hints .CodeMirror-hint").all_inner_texts()


def _type_at_end(page: Any, text: str, before: str) -> None:
    page.evaluate("""v => { const y = kgraphEditor.yasqe; y.setValue(v); y.focus();
                     y.setCursor(y.lastLine(), y.getLine(y.lastLine()).length); }""", before)
    page.keyboard.type(text, delay=20)


def test_completion_offers_kgraph_prefixes_and_the_stores_terms(page, kb_server) -> None:
    _open_editor(page, kb_server.url)
    # Yasqe's own completers (prefix.cc, LOV) are gone; only local ones are left
    assert sorted(page.evaluate("() => Object.keys(Yasqe.Autocompleters)")) == \
        ["kgClasses", "kgPrefixes", "kgProperties", "variables"]
    _type_at_end(page, "kg", "PREFIX ")
    page.keyboard.press("Control+Space")
    hints = _hints(page)
    assert f"kgo: <{KGO}>" in hints and f"kgr: <{KGR}>" in hints
    page.keyboard.press("Escape")
    stored = requests.get(kb_server.url + "/ui/completions.json?kind=class", timeout=30).json()
    assert KGO + "State" in stored["terms"]
    _type_at_end(page, "kgo:St", f"PREFIX kgo: <{KGO}>\nSELECT * WHERE {{ ?x a ")
    page.keyboard.press("Control+Space")
    assert "kgo:State" in _hints(page)
    page.keyboard.press("Escape")
    props = requests.get(kb_server.url + "/ui/completions.json?kind=property", timeout=30).json()
    kgo_props = sorted(t[len(KGO):] for t in props["terms"] if t.startswith(KGO))
    assert kgo_props
    _type_at_end(page, "kgo:" + kgo_props[0][:2], f"PREFIX kgo: <{KGO}>\nSELECT * WHERE {{ ?x ")
    page.keyboard.press("Control+Space")
    hints = _hints(page)
    assert "kgo:" + kgo_props[0] in hints and all(h.startswith("kgo:") for h in hints)


@pytest.fixture(scope="module")
def writable_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An in-process server over an empty in-memory store that takes updates (the
    knowledge-base server is shared: no test writes to it)."""
    queries = tmp_path_factory.mktemp("ui-queries")
    settings = Settings(store_path=None, allow_update=True, token=TOKEN, queries_dir=queries,
                        bootstrap=False)
    server = make_server("127.0.0.1", 0, create_app(settings, open_store(None)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_an_update_runs_with_the_token_only(page, writable_url: str) -> None:
    _open_editor(page, writable_url)
    ask = {"query": "ASK { <urn:ui:a> <urn:ui:b> <urn:ui:c> }"}
    update = "INSERT DATA { <urn:ui:a> <urn:ui:b> <urn:ui:c> }"
    _run(page, update)
    assert _view(page).startswith("error")  # no token: 401, shown as the endpoint said
    assert requests.get(writable_url + "/sparql", params=ask, timeout=30).json()["boolean"] is False
    page.fill("#kg-token", TOKEN)
    page.dispatch_event("#kg-token", "change")
    _run(page, update)
    assert _view(page) == "update"
    assert "Update applied" in page.locator("#kg-yasr").inner_text()
    assert requests.get(writable_url + "/sparql", params=ask, timeout=30).json()["boolean"] is True
    # a query after it is answered as usual, and the token is not sent with it
    seen: list[dict[str, str]] = []
    page.on("request", lambda r: seen.append(r.headers) if r.url.endswith("/sparql") else None)
    _run(page, "SELECT ?o WHERE { <urn:ui:a> ?p ?o }")
    assert _view(page) == "table" and "urn:ui:c" in page.locator("#kg-yasr table").inner_text()
    assert seen and all("authorization" not in h for h in seen)
