"""Dereferenceable IRIs and the pictures' data, over HTTP.

Content negotiation runs against the knowledge-base server (the session's ``kb_server``,
shared with the editor and KB tests): rdflib's ``Graph().parse(url)`` must get the
entity's triples; every RDF format parses; unknown entities are 404 and unservable
media types 406. Escaping and a store without inferences run in process, over a
small store built here (no bootstrap, no inferred graph).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import pytest
import rdflib
import requests
from pyoxigraph import Literal, NamedNode, Quad

from kgraph.config import Settings
from kgraph.loader import parse_files
from kgraph.namespaces import (
    DCT,
    DOCUMENT,
    GRAPH_INFERRED,
    GRAPH_ONTOLOGY,
    KGO,
    KGR,
    OA,
    OWL,
    PROV,
    RDF,
    RDFS,
    SKOS,
    XSD,
    source_graph,
)
from kgraph.store import open_store
from kgraph.web import create_app

from .support import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DPRK = KGR + "DPRK"
RDF_TYPES = {
    "text/turtle": "turtle", "application/n-triples": "nt", "application/rdf+xml": "xml",
    "application/ld+json": "json-ld", "application/trig": "trig",
    "application/n-quads": "nquads",
}


def _text(page: str) -> str:
    """A page's visible text, tags removed, whitespace folded."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    return re.sub(r"\s+([),])", r"\1", re.sub(r"\(\s+", "(", text))


def _triples(data: bytes, fmt: str) -> set[tuple[object, object, object]]:
    if fmt in ("trig", "nquads"):
        ds = rdflib.Dataset()
        ds.parse(data=data, format=fmt)
        return {(s, p, o) for s, p, o, _ in ds.quads()}
    g = rdflib.Graph()
    g.parse(data=data, format=fmt)
    return set(g)


# -- content negotiation, against the served knowledge base --------------------------------

def test_rdflib_dereferences_an_entity(kb_server: ServerProcess) -> None:
    """What a Linked Data client does: ``Graph().parse(url)`` with its own Accept header."""
    g = rdflib.Graph()
    g.parse(f"{kb_server.url}/resource/DPRK")
    s = rdflib.URIRef(DPRK)
    assert (s, rdflib.RDFS.label,
            rdflib.Literal("Democratic People’s Republic of Korea", lang="en")) in g
    assert (s, rdflib.URIRef(SKOS + "exactMatch"),
            rdflib.URIRef("http://www.wikidata.org/entity/Q423")) in g
    assert (rdflib.URIRef(KGR + "PRC"), rdflib.URIRef(KGO + "alliedWith"), s) in g  # incoming
    # the provenance of its statements: a kgo:Fact with a quote and its offsets
    facts = list(g.subjects(rdflib.RDF.subject, s))
    assert facts and all((f, rdflib.RDF.type, rdflib.URIRef(KGO + "Fact")) in g for f in facts)
    quotes = {q for f in facts for q in g.objects(f, rdflib.URIRef(KGO + "hasEvidence"))}
    starts = {int(o) for q in quotes for sel in g.objects(q, rdflib.URIRef(OA + "hasSelector"))
              for o in g.objects(sel, rdflib.URIRef(OA + "start"))}
    assert 913 in starts  # “Democratic People’s Republic of Korea”, the label's quote
    for fmt in ("json-ld", "xml"):  # rdflib asking for one format gets that one
        assert len(rdflib.Graph().parse(f"{kb_server.url}/resource/DPRK", format=fmt)) == len(g)


def test_each_rdf_format_by_accept_holds_the_same_triples(kb_server: ServerProcess) -> None:
    url = f"{kb_server.url}/resource/DPRK"
    sets = {}
    for media, fmt in RDF_TYPES.items():
        r = requests.get(url, headers={"Accept": media}, timeout=30)
        assert r.status_code == 200, (media, r.text[:200])
        assert r.headers["Content-Type"].split(";")[0] == media
        assert "Accept" in r.headers["Vary"]
        assert r.headers["Content-Location"].startswith("/resource/DPRK?format=")
        assert 'rel="alternate"' in r.headers["Link"]
        sets[media] = _triples(r.content, fmt)
        # the Content-Location is a URL of that representation alone
        again = requests.get(kb_server.url + r.headers["Content-Location"], timeout=30)
        assert again.headers["Content-Type"].split(";")[0] == media
    turtle = sets["text/turtle"]
    assert len(turtle) > 100
    for media, triples in sets.items():
        if media != "application/ld+json":  # JSON-LD gives its blank nodes new ids: count
            assert triples == turtle, media
        assert len(triples) == len(turtle), media


def test_browsers_get_html_and_format_overrides_accept(kb_server: ServerProcess) -> None:
    url = f"{kb_server.url}/resource/DPRK"
    r = requests.get(url, headers={"Accept": BROWSER}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Location"] == "/resource/DPRK?format=html"
    assert '<link rel="alternate" type="text/turtle" href="/resource/DPRK?format=ttl">' in r.text
    r = requests.get(url, params={"format": "ttl"}, headers={"Accept": BROWSER}, timeout=30)
    assert r.headers["Content-Type"].startswith("text/turtle")
    r = requests.get(url, headers={"Accept": "*/*"}, timeout=30)  # curl: data, not a page
    assert r.headers["Content-Type"].startswith("text/turtle")
    r = requests.head(url, headers={"Accept": "application/ld+json"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/ld+json")


def test_unknown_entities_are_404_and_unservable_types_406(kb_server: ServerProcess) -> None:
    base = kb_server.url
    for accept in ("text/turtle", BROWSER):
        r = requests.get(f"{base}/resource/NoSuchThing", headers={"Accept": accept}, timeout=30)
        assert r.status_code == 404, accept
        assert "kgr:NoSuchThing is not in this knowledge base" in r.text
    r = requests.get(f"{base}/resource/a%20b%3Cc%3E", headers={"Accept": "text/turtle"}, timeout=30)
    assert r.status_code == 404  # not an IRI at all: nothing is queried
    for accept in ("image/png", "application/sparql-results+json", "text/turtle;q=0"):
        r = requests.get(f"{base}/resource/DPRK", headers={"Accept": accept}, timeout=30)
        assert r.status_code == 406, accept
        assert "text/turtle" in r.text and r.headers["Vary"].startswith("Accept")
    assert requests.get(f"{base}/resource/DPRK", params={"format": "png"},
                        timeout=30).status_code == 406
    r = requests.get(f"{base}/ontology", headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 406


def test_slashed_names_resolve(kb_server: ServerProcess) -> None:
    for name in ("claim/scmp-2017-not-obliged", "obligation/PRC-defend-DPRK",
                 "event/TreatySigning1961", "Treaty1961/DefenceProvision"):
        r = requests.get(f"{kb_server.url}/resource/{name}", headers={"Accept": "text/turtle"},
                         timeout=30)
        assert r.status_code == 200, name
        g = rdflib.Graph().parse(data=r.content, format="turtle")
        assert (rdflib.URIRef(KGR + name), None, None) in g, name


def test_the_ontology_by_conneg(kb_server: ServerProcess) -> None:
    url = f"{kb_server.url}/ontology"
    state = rdflib.URIRef(KGO + "State")
    for media, fmt in (("text/turtle", "turtle"), ("application/rdf+xml", "xml"),
                       ("application/ld+json", "json-ld")):
        r = requests.get(url, headers={"Accept": media}, timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(media)
        g = rdflib.Graph().parse(data=r.content, format=fmt)
        assert (state, rdflib.RDF.type, rdflib.OWL.Class) in g, media
        assert (rdflib.URIRef("https://w3id.org/kgraph/ontology"), rdflib.RDF.type,
                rdflib.OWL.Ontology) in g
    g = rdflib.Graph().parse(url)  # rdflib's own negotiation
    assert (state, rdflib.RDFS.label, rdflib.Literal("state", lang="en")) in g


def test_the_ontology_page_renders_terms_and_axioms(kb_server: ServerProcess) -> None:
    r = requests.get(f"{kb_server.url}/ontology", headers={"Accept": BROWSER}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    section = page.split('id="BilateralTreaty"')[1].split("</section>")[0]
    text = _text(section)
    assert "A treaty with exactly two parties." in text
    assert "subclass of kgo:Treaty, (kgo:hasParty exactly 2 kgo:Agent)" in text
    allied = _text(page.split('id="AlliedState"')[1].split("</section>")[0])
    assert "(kgo:State and (kgo:partyTo some kgo:MutualDefenceTreatyInForce))" in allied
    alliedwith = _text(page.split('id="alliedWith"')[1].split("</section>")[0])
    assert "Symmetric" in alliedwith and "object property" in alliedwith
    assert "domain" in alliedwith and "range" in alliedwith
    assert "disjoint with" in page
    assert "from the store's ontology graph" in _text(page)


# -- the entity page, against the served knowledge base ------------------------------------

def test_entity_page_shows_facts_quotes_inferences_claims_and_wikidata(
        kb_server: ServerProcess) -> None:
    page = requests.get(f"{kb_server.url}/resource/DPRK", headers={"Accept": BROWSER},
                        timeout=30).text
    text = _text(page)
    assert "Democratic People’s Republic of Korea" in text and "kgo:State" in text
    # a fact with its quote, linked to its place in the article
    assert "“Pyongyang and Beijing remain formal military allies”" in text
    assert 'href="/article/bandow-2021-07-10#q-740-791"' in page
    # inferred facts are marked and linked to their explanation
    inferred = page.split('class="kg-row-inferred"')
    assert len(inferred) > 1
    explain = re.search(r'href="(/explain\?s=[^"]+alliedWith[^"]+)"', page)
    assert explain, "no explanation link for the inferred kgo:alliedWith"
    params = dict(p.split("=", 1) for p in html.unescape(explain.group(1)).split("?", 1)[1]
                  .split("&"))
    r = requests.get(f"{kb_server.url}/reason/explain",
                     params={k: requests.utils.unquote(v) for k, v in params.items()},
                     timeout=60)
    assert r.status_code == 200 and r.json()["kind"] == "inferred"
    assert requests.get(kb_server.url + html.unescape(explain.group(1)),
                        timeout=30).status_code == 200
    # attributed claims with claimant and reporter
    claims = _text(page.split('id="claims"')[1].split("</table>")[0])
    assert "Wang Yi" in claims and "Chinese foreign ministry" in claims
    # the Wikidata link
    assert 'href="https://www.wikidata.org/wiki/Q423"' in page
    snapshot = _text(page.split('class="kg-snapshot"')[1].split("</ul>")[0])
    assert "P35 : Kim Jong Un" in snapshot  # what the offline snapshot says about Q423


def test_claim_page_names_claimant_and_reporter(kb_server: ServerProcess) -> None:
    page = requests.get(f"{kb_server.url}/resource/claim/scmp-2017-not-obliged",
                        headers={"Accept": BROWSER}, timeout=30).text
    text = _text(page)
    assert "claimant kgo:claimant" in text and "kgr:ChineseObservers" in text
    assert "reported by kgo:reportedBy" in text and "South China Morning Post" in text
    assert "inferred" in text  # kgo:contests, concluded by the reasoner


def test_article_anchors_and_quote_offsets_agree(kb_server: ServerProcess) -> None:
    r = requests.get(f"{kb_server.url}/article", timeout=30, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/article/bandow-2021-07-10")
    page = requests.get(f"{kb_server.url}/article/bandow-2021-07-10", timeout=30).text
    text = (ROOT / "data" / "sources" / "bandow-2021-07-10.txt").read_text(encoding="utf-8")
    body = page.split('id="kg-article-text"')[1].split("</div>")[0].split(">", 1)[1]
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == text  # the text, whole and unchanged
    assert '<a class="kg-qa" id="q-740-791"></a>' in body
    after = html.unescape(re.sub(r"<[^>]+>", "", body.split('id="q-740-791"></a>')[1]))
    assert after.startswith("Pyongyang and Beijing remain formal military allies")
    quotes = json.loads(page.split('id="kg-quotes">')[1].split("</script>")[0])
    facts = {(f["s"]["iri"], f["p"]["iri"], f["o"]["iri"]) for f in quotes["740-791"]["facts"]}
    assert (KGR + "PRC", KGO + "alliedWith", DPRK) in facts  # the fact this quote evidences
    assert requests.get(f"{kb_server.url}/article/nope", timeout=30).status_code == 404


def test_graph_and_timeline_data(kb_server: ServerProcess) -> None:
    g = requests.get(f"{kb_server.url}/graph/data", timeout=30).json()
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    assert kinds[DPRK] == "state" and kinds[KGR + "XiJinping"] == "person"
    assert kinds[KGR + "Treaty1961"] == "treaty"
    assert kinds[KGR + "obligation/PRC-defend-DPRK"] == "obligation"
    assert kinds[KGR + "claim/scmp-2017-not-obliged"] == "claim"
    assert kinds[KGR + "event/TreatySigning1961"] == "event"
    assert not any("/fact/" in i or "/quote/" in i for i in kinds)
    edges = {(e["from"], e["property"], e["to"]): e["inferred"] for e in g["edges"]}
    assert edges[(KGR + "PRC", "kgo:alliedWith", DPRK)] is False
    assert edges[(DPRK, "kgo:alliedWith", KGR + "PRC")] is True
    t = requests.get(f"{kb_server.url}/timeline/data", timeout=30).json()
    signing = [i for i in t["items"] if i["iri"] == KGR + "event/TreatySigning1961"]
    assert signing and signing[0]["start"] == "1961-07-11" and signing[0]["group"] == "event"
    years = [i for i in t["items"] if i["precision"] == "gYear"]
    assert years and all(i["end"].endswith("-12-31") for i in years)


# -- in process: escaping, a store without inferences, the shipped ontology ---------------

TEXT = "Atlantis borders Lemuria. <b>Not markup</b> & more."
DOC_ID = "test-doc"


def _small_store(tmp_path: Path, with_ontology: bool = True):  # type: ignore[no-untyped-def]
    """An asserted-only store: two states, one fact with a quote, a document and its text;
    a label that is HTML. No inferred graph (reasoning never ran)."""
    sources = tmp_path / "data" / "sources"
    sources.mkdir(parents=True)
    (sources / f"{DOC_ID}.txt").write_text(TEXT, encoding="utf-8")
    store = open_store(None)
    if with_ontology:
        store.add_quads(parse_files(sorted((ROOT / "ontology").glob("kgraph.ttl")),
                                    GRAPH_ONTOLOGY, progress=False))
    g = NamedNode(source_graph(DOC_ID))
    a, b, doc = NamedNode(KGR + "Atlantis"), NamedNode(KGR + "Lemuria"), NamedNode(DOCUMENT + DOC_ID)
    fact, quote = NamedNode(KGR + f"fact/{DOC_ID}/1"), NamedNode(KGR + f"quote/{DOC_ID}/0-25")
    sel_p, sel_e = NamedNode(quote.value + "#position"), NamedNode(quote.value + "#exact")

    def n(x: str) -> NamedNode:
        return NamedNode(x)

    lit = Literal
    store.add_quads([Quad(s, p, o, g) for s, p, o in [
        (a, n(RDF + "type"), n(KGO + "State")), (b, n(RDF + "type"), n(KGO + "State")),
        (a, n(RDFS + "label"), lit("<script>alert('x')</script> & Atlantis", language="en")),
        (b, n(RDFS + "label"), lit("Lemuria", language="en")),
        (a, n(KGO + "borders"), b),
        (a, n(KGO + "hasMention"), quote),
        (fact, n(RDF + "type"), n(KGO + "Fact")), (fact, n(RDF + "subject"), a),
        (fact, n(RDF + "predicate"), n(KGO + "borders")), (fact, n(RDF + "object"), b),
        (fact, n(KGO + "hasEvidence"), quote), (fact, n(PROV + "wasDerivedFrom"), doc),
        (quote, n(RDF + "type"), n(KGO + "Quote")), (quote, n(OA + "hasSource"), doc),
        (quote, n(OA + "hasSelector"), sel_p), (quote, n(OA + "hasSelector"), sel_e),
        (sel_p, n(OA + "start"), lit("0", datatype=n(XSD + "integer"))),
        (sel_p, n(OA + "end"), lit("25", datatype=n(XSD + "integer"))),
        (sel_e, n(OA + "exact"), lit(TEXT[:25])),
        (doc, n(RDF + "type"), n(KGO + "NewsArticle")),
        (doc, n(DCT + "title"), lit("A <i>test</i> document")),
        (doc, n(DCT + "issued"), lit("2020-02-02", datatype=n(XSD + "date"))),
        (doc, n(KGO + "sourceText"), lit(f"{DOC_ID}.txt")),
        (doc, n(KGO + "sha256"), lit(hashlib.sha256(TEXT.encode()).hexdigest())),
    ]])
    settings = Settings(store_path=None, bootstrap=False, data_dir=tmp_path / "data",
                        ontology_dir=ROOT / "ontology", queries_dir=tmp_path)
    return create_app(settings, store), store


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    app, store = _small_store(tmp_path_factory.mktemp("ld"))
    assert not store.contains_graph(GRAPH_INFERRED)
    return app.test_client()


def test_literals_are_escaped_everywhere(small) -> None:  # type: ignore[no-untyped-def]
    page = small.get("/resource/Atlantis", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Atlantis" in page
    lemuria = small.get("/resource/Lemuria", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "<script>alert" not in lemuria and "&lt;script&gt;" in lemuria  # as a linked label
    article = small.get(f"/article/{DOC_ID}").get_data(as_text=True)
    assert "<b>Not markup</b>" not in article and "&lt;b&gt;Not markup&lt;/b&gt;" in article
    assert "<i>test</i>" not in article
    data = article.split('id="kg-quotes">')[1].split("</script>")[0]
    assert "<script" not in data and "\\u003cscript" in data  # JSON in a script element
    graph = small.get("/graph/data").get_json()  # JSON: the client writes it as text
    assert any(n["label"].startswith("<script>") for n in graph["nodes"])


def test_pages_work_without_inferences(small) -> None:  # type: ignore[no-untyped-def]
    r = small.get("/resource/Atlantis", headers={"Accept": BROWSER})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "kg-row-inferred" not in page and "/explain?" not in page
    assert f'href="/article/{DOC_ID}#q-0-25"' in page  # the quote of kgo:borders
    g = small.get("/graph/data").get_json()
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    assert kinds[KGR + "Atlantis"] == "state" and kinds[DOCUMENT + DOC_ID] == "document"
    assert [(e["from"], e["to"], e["inferred"]) for e in g["edges"]] == [
        (KGR + "Atlantis", KGR + "Lemuria", False)]
    t = small.get("/timeline/data").get_json()
    assert [(i["iri"], i["start"]) for i in t["items"]] == [(DOCUMENT + DOC_ID, "2020-02-02")]
    for path in ("/graph", "/timeline", "/scenario", f"/article/{DOC_ID}", "/ontology"):
        assert small.get(path, headers={"Accept": BROWSER}).status_code == 200, path
    turtle = small.get("/resource/Atlantis", headers={"Accept": "text/turtle"}).data
    g2 = rdflib.Graph().parse(data=turtle, format="turtle")
    assert (rdflib.URIRef(KGR + "Atlantis"), rdflib.URIRef(KGO + "borders"),
            rdflib.URIRef(KGR + "Lemuria")) in g2


def test_a_changed_text_is_not_shown_with_stale_offsets(tmp_path: Path) -> None:
    app, _ = _small_store(tmp_path)
    (tmp_path / "data" / "sources" / f"{DOC_ID}.txt").write_text("edited", encoding="utf-8")
    page = app.test_client().get(f"/article/{DOC_ID}").get_data(as_text=True)
    assert "has changed since it was ingested" in page and "kg-article-text" not in page
    assert "Atlantis borders Lemuria" in page  # the quotes are still listed
    assert str(tmp_path) not in page


def test_the_ontology_comes_from_the_files_when_the_store_lacks_it(tmp_path: Path) -> None:
    app, _ = _small_store(tmp_path, with_ontology=False)
    client = app.test_client()
    page = client.get("/ontology", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "from the ontology files shipped with kgraph" in page and 'id="State"' in page
    g = rdflib.Graph().parse(data=client.get("/ontology", headers={"Accept": "text/turtle"}).data,
                             format="turtle")
    assert (rdflib.URIRef(KGO + "State"), rdflib.RDF.type, rdflib.URIRef(OWL + "Class")) in g


def test_a_description_cut_at_the_row_limit_says_so(  # type: ignore[no-untyped-def]
        small, monkeypatch: pytest.MonkeyPatch) -> None:
    from kgraph.web import linked_data

    full = small.get("/resource/Atlantis", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "the page shows the first" not in full
    monkeypatch.setattr(linked_data, "MAX_ROWS", 5)
    page = small.get("/resource/Atlantis", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "more than 5 statements and quotes; the page shows the first 5" in _text(page)


def test_long_value_lists_are_cut_with_a_query_for_the_rest(  # type: ignore[no-untyped-def]
        small, monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import parse_qs, urlsplit

    from kgraph.web import linked_data

    monkeypatch.setattr(linked_data, "PER_PROPERTY", 0)
    page = small.get("/resource/Atlantis", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "… and 1 more values" in _text(page)
    hrefs = [html.unescape(h) for h in re.findall(r'href="(/\?query=[^"]+)"', page)]
    queries = [parse_qs(urlsplit(h).query)["query"][0] for h in hrefs]
    assert f"SELECT ?value WHERE {{ <{KGR}Atlantis> <{KGO}borders> ?value }}" in queries


def test_a_document_page_stays_short(kb_server: ServerProcess) -> None:
    """The article is the source of every fact: its page lists 50 of each, not a thousand."""
    r = requests.get(f"{kb_server.url}/resource/document/bandow-2021-07-10",
                     headers={"Accept": BROWSER}, timeout=30)
    assert r.status_code == 200
    assert r.text.count("<tr") < 400 and "query them all in the editor" in r.text
    assert 'href="/article/bandow-2021-07-10"' in r.text


def test_every_page_answers_on_an_empty_store(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/graph", "/timeline", "/scenario", "/article", "/ontology",
                 "/explain?s=kgr:A&p=kgo:b&o=kgr:C"):
        r = client.get(path, headers={"Accept": BROWSER})
        assert r.status_code == 200, path
    assert client.get("/graph/data").get_json()["nodes"] == []
    assert client.get("/timeline/data").get_json()["items"] == []
    assert "holds no source document" in _text(client.get("/article").get_data(as_text=True))
    assert client.get("/resource/A", headers={"Accept": BROWSER}).status_code == 404
    assert client.get("/explain").status_code == 400
