"""The ingest pipeline: facts file -> verified, compiled, validated RDF in its own graph."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
import yaml
from pyoxigraph import BlankNode, Literal, NamedNode, Quad

from kgraph.ingest import (
    FactsError,
    QuoteRef,
    check_quote,
    check_vocabulary,
    compile_facts,
    coverage_report,
    fact_iri,
    ingest_path,
    ingest_paths,
    load_facts,
    paragraphs,
    validate,
)
from kgraph.ingest.cli import main as ingest_cli
from kgraph.ingest.compile import compile_document
from kgraph.ingest.terms import TermError, check_lexical
from kgraph.namespaces import KGO, KGR, PREFIXES, WIKIDATA_ENTITY, document_iri, source_graph
from kgraph.store import open_store

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
TEST_FACTS = DATA / "facts" / "test-article.yaml"
TEST_DOC = "test-article-2021-07-12"
BROKEN = sorted((DATA / "facts" / "broken").glob("*.yaml"))
REAL_FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
REAL_TEXT = ROOT / "data" / "sources" / "bandow-2021-07-10.txt"
COVERAGE_MD = ROOT / "docs" / "coverage.md"
XSD = PREFIXES["xsd"]

needs_real = pytest.mark.skipif(not REAL_FACTS.exists(),
                                reason="data/facts/bandow-2021-07-10.yaml not written yet")


def nquads(store) -> list[str]:
    """The whole store as sorted N-Quads lines (an exact before/after comparison)."""
    out = io.BytesIO()
    store.dump(out, "application/n-quads")
    return sorted(out.getvalue().decode("utf-8").splitlines())


def ask(store, query: str) -> bool:
    prefixes = "".join(f"PREFIX {k}: <{v}>\n" for k, v in PREFIXES.items())
    return store.query(prefixes + query).value


@pytest.fixture(scope="module")
def test_facts():
    return load_facts(TEST_FACTS)


@pytest.fixture
def store():
    s = open_store(None)
    yield s
    s.close()


# -- loading ------------------------------------------------------------------------------


def test_test_article_loads_with_verified_quotes(test_facts):
    text = (DATA / "sources" / "test-article.txt").read_text(encoding="utf-8")
    assert test_facts.document.doc_id == TEST_DOC
    assert test_facts.text == text
    assert test_facts.text_sha256 == hashlib.sha256(text.encode()).hexdigest()
    quotes = list(test_facts.quotes())
    assert len(quotes) > 20
    for quote in quotes:
        assert text[quote.start:quote.end] == quote.text


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_names_every_problem_by_line(path: Path, store, test_facts):
    """Each broken file lists its expected ``line: message`` pairs in ``# expect:`` comments."""
    expected = re.findall(r"^# expect: (\d+): (.+)$", path.read_text(encoding="utf-8"), re.M)
    assert expected, f"{path.name} declares no expectations"
    ingest_path(store, TEST_FACTS)
    before = nquads(store)
    with pytest.raises(FactsError) as info:
        ingest_path(store, path)
    got = [(p.line, p.message) for p in info.value.errors]
    for line, fragment in expected:
        assert any(n == int(line) and fragment in m for n, m in got), (
            f"missing {path.name}:{line}: {fragment}\ngot:\n" + str(info.value))
    for problem in info.value.errors:
        assert str(problem).startswith(f"{path}:{problem.line}: ")
    assert nquads(store) == before, "a rejected file changed the store"


def test_all_structure_errors_reported_at_once():
    with pytest.raises(FactsError) as info:
        load_facts(DATA / "facts" / "broken" / "bad-structure.yaml")
    assert len(info.value.errors) >= 15


def test_quote_hints():
    text = "Wang’s “friends” — the PRC’s ally."
    assert check_quote(text, QuoteRef("the PRC’s ally", 19, 1)) is None
    byte_offset = text.encode("utf-8").find(b"the PRC")
    message = check_quote(text, QuoteRef("the PRC", byte_offset, 1))
    assert "the quote occurs at offset 19" in message and "UTF-8 byte offset" in message
    message = check_quote(text, QuoteRef('Wang\'s "friends"', 0, 1))
    assert "differs from the text in quotation marks" in message


@pytest.mark.parametrize("lexical,datatype,ok", [
    ("1961-07-11", "date", True),
    ("1961-13-40", "date", False),
    ("2021-02-29", "date", False),
    ("2020-02-29", "date", True),
    ("1961-7-11", "date", False),
    ("2017", "gYear", True),
    ("17", "gYear", False),
    ("2021-05", "gYearMonth", True),
    ("2021-5", "gYearMonth", False),
    ("2021-07-10T12:30:00Z", "dateTime", True),
    ("2021-07-10T25:00:00", "dateTime", False),
    ("60", "positiveInteger", True),
    ("0", "positiveInteger", False),
    ("-1", "nonNegativeInteger", False),
    ("true", "boolean", True),
    ("yes", "boolean", False),
    ("P20Y", "duration", True),
    ("20 years", "duration", False),
    ("1.5", "decimal", True),
])
def test_lexical_forms(lexical: str, datatype: str, ok: bool):
    if ok:
        check_lexical(lexical, XSD + datatype)
    else:
        with pytest.raises(TermError):
            check_lexical(lexical, XSD + datatype)


def test_untyped_yaml_values_get_datatypes(tmp_path: Path):
    text = tmp_path / "t.txt"
    text.write_text("Sixty years, in force: yes.\n", encoding="utf-8")
    facts = tmp_path / "t.yaml"
    facts.write_text(
        "document: {id: t, text: t.txt, title: T}\n"
        "resources:\n"
        "  - id: kgr:x\n"
        "    label: x\n"
        "    mentions: [{quote: Sixty, start: 0}]\n"
        "    facts:\n"
        "      - {p: kgo:ordinal, value: 60, quote: Sixty years, start: 0}\n"
        "      - {p: kgo:renewsAutomatically, value: true, quote: in force, start: 13}\n"
        "      - {p: kgo:date, value: 2021-07-10, quote: yes, start: 23}\n"
        "      - {p: rdfs:comment, value: '60', quote: Sixty, start: 0}\n",
        encoding="utf-8")
    objects = {s.predicate: s.obj for s in load_facts(facts).statements()}
    assert objects[KGO + "ordinal"] == Literal("60", datatype=NamedNode(XSD + "integer"))
    assert objects[KGO + "renewsAutomatically"] == Literal("true",
                                                           datatype=NamedNode(XSD + "boolean"))
    assert objects[KGO + "date"] == Literal("2021-07-10", datatype=NamedNode(XSD + "date"))
    assert objects[PREFIXES["rdfs"] + "comment"] == Literal("60")


# -- compiling ----------------------------------------------------------------------------


def test_compile_is_deterministic_and_in_the_document_graph(test_facts):
    first = compile_facts(test_facts)
    second = compile_facts(load_facts(TEST_FACTS))
    assert [str(q) for q in first] == [str(q) for q in second]
    assert [str(q) for q in first] == sorted(str(q) for q in first)
    graph = NamedNode(source_graph(TEST_DOC))
    assert {q.graph_name for q in first} == {graph}
    assert not any(isinstance(t, BlankNode) for q in first for t in (q.subject, q.object))


def test_compiled_provenance(store, test_facts):
    report = ingest_path(store, TEST_FACTS)
    assert report.graph == source_graph(TEST_DOC)
    doc = document_iri(TEST_DOC)
    sha = hashlib.sha256((DATA / "sources" / "test-article.txt").read_bytes()).hexdigest()
    # The document entity.
    assert ask(store, f"""ASK {{ <{doc}> a prov:Entity , kgo:NewsArticle ;
        dcterms:title "Beijing and Pyongyang Mark Treaty Anniversary With Messages" ;
        dcterms:creator "kgraph test suite" ; dcterms:issued "2021-07-12"^^xsd:date ;
        kgo:sourceText "test-article.txt" ; kgo:sha256 "{sha}" }}""")
    # A plain fact: asserted, reified, evidenced by a quote with both selectors.
    assert ask(store, """ASK {
        kgr:Treaty1961 kgo:signedOn "1961-07-11"^^xsd:date .
        ?f a kgo:Fact ; rdf:subject kgr:Treaty1961 ; rdf:predicate kgo:signedOn ;
           rdf:object "1961-07-11"^^xsd:date ; prov:wasDerivedFrom ?doc ; kgo:hasEvidence ?q .
        ?q a kgo:Quote ; oa:hasSource ?doc ; oa:hasSelector ?qs , ?ps .
        ?qs a oa:TextQuoteSelector ; oa:exact "signed in Beijing on July 11, 1961" .
        ?ps a oa:TextPositionSelector ; oa:start 364 ; oa:end 398 .
        FILTER NOT EXISTS { ?f kgo:isDerived ?d } }""")
    # A derived value is marked and explained.
    assert ask(store, """ASK { ?f rdf:subject kgr:test\\/Anniversary60 ; rdf:predicate kgo:date ;
        kgo:isDerived true ; kgo:derivation ?why . FILTER(CONTAINS(?why, "on Sunday")) }""")
    # Type and label facts are evidenced by the resource's mention; altLabels by the
    # mention that contains them.
    assert ask(store, """ASK { ?f rdf:subject kgr:XiJinping ; rdf:predicate rdf:type ;
        rdf:object kgo:Person ; kgo:hasEvidence ?q .
        ?q oa:hasSelector/oa:exact "Chinese President Xi Jinping" }""")
    assert ask(store, """ASK { ?f rdf:subject kgr:PRC ; rdf:predicate skos:altLabel ;
        rdf:object "Beijing"@en ; kgo:hasEvidence ?q . ?q oa:hasSelector/oa:start 0 }""")
    # Wikidata links come from Wikidata, not from the article.
    assert ask(store, f"""ASK {{ kgr:PRC skos:exactMatch <{WIKIDATA_ENTITY}Q148> .
        ?f rdf:subject kgr:PRC ; rdf:predicate skos:exactMatch ;
           prov:wasDerivedFrom <{WIKIDATA_ENTITY}Q148> .
        FILTER NOT EXISTS {{ ?f kgo:hasEvidence ?q }} }}""")
    assert ask(store, """ASK { kgr:DPRK kgo:hasMention ?q . ?q oa:hasSelector/oa:exact "Pyongyang" }""")
    # Fact IRIs are a function of (document, s, p, o).
    iri = fact_iri(TEST_DOC, KGR + "Treaty1961", KGO + "hasParty", NamedNode(KGR + "PRC"))
    assert ask(store, f"ASK {{ <{iri}> rdf:object kgr:PRC }}")


def test_compiled_test_article_conforms_to_shapes(test_facts):
    assert [str(v) for v in validate(compile_facts(test_facts)) if v.is_violation] == []


def test_shapes_reject_tampered_graphs(test_facts):
    quads = compile_facts(test_facts)
    evidence = NamedNode(KGO + "hasEvidence")
    fact = next(q.subject for q in quads if q.predicate == evidence)
    no_evidence = [q for q in quads if not (q.subject == fact and q.predicate == evidence)]
    messages = [str(v) for v in validate(no_evidence) if v.is_violation]
    assert any("needs at least one kgo:hasEvidence" in m for m in messages), messages

    end = NamedNode(PREFIXES["oa"] + "end")
    pos = next(q for q in quads if q.predicate == end)
    shifted = [q for q in quads if q != pos] + [
        Quad(pos.subject, end, Literal("9999", datatype=NamedNode(XSD + "nonNegativeInteger")),
             pos.graph_name)]
    messages = [str(v) for v in validate(shifted) if v.is_violation]
    assert any("does not match its offsets" in m for m in messages), messages

    label = NamedNode(PREFIXES["rdfs"] + "label")
    kim = NamedNode(KGR + "KimJongUn")
    unlabelled = [q for q in quads if not (q.subject == kim and q.predicate == label)]
    messages = [str(v) for v in validate(unlabelled) if v.is_violation]
    assert any("has an rdfs:label" in m for m in messages), messages
    assert any("is not asserted" in m for m in messages), messages


def test_emitted_terms_are_declared_in_the_ontology(test_facts):
    from kgraph.ingest.validate import DEFAULT_ONTOLOGY_DIR, ontology_graph

    graph = ontology_graph(DEFAULT_ONTOLOGY_DIR)
    if graph is None:
        pytest.skip("no ontology yet")
    declared = {str(s) for s in graph.subjects()}
    used = {t.value for q in compile_facts(test_facts)
            for t in (q.predicate, q.object) if isinstance(t, NamedNode)}
    missing = sorted(t for t in used if t.startswith(KGO) and t not in declared)
    assert missing == []
    assert check_vocabulary(test_facts) == []


# -- ingesting ----------------------------------------------------------------------------


def test_reingest_is_idempotent(store):
    first = ingest_path(store, TEST_FACTS)
    assert first.previous_quads is None
    dump = nquads(store)
    again = ingest_path(store, TEST_FACTS)
    assert again.unchanged and again.previous_quads == first.quads
    assert nquads(store) == dump


def test_ingest_replaces_the_graph(store, tmp_path: Path):
    """A new version of a facts file replaces the old graph; nothing stale survives."""
    ingest_path(store, TEST_FACTS)
    graph = source_graph(TEST_DOC)
    smaller = tmp_path / "facts" / "test-article.yaml"
    smaller.parent.mkdir()
    src = TEST_FACTS.read_text(encoding="utf-8").replace("../sources/", f"{DATA}/sources/")
    cut = src.index("  - id: kgr:test/NuclearTalks")
    smaller.write_text(src[:cut], encoding="utf-8")
    report = ingest_path(store, smaller)
    assert report.previous_quads is not None and report.quads < report.previous_quads
    assert store.count(graph) == report.quads
    assert not ask(store, "ASK { kgr:test\\/NuclearTalks ?p ?o }")


def test_dry_run_writes_nothing(store):
    report = ingest_path(store, TEST_FACTS, dry_run=True)
    assert report.quads > 0
    assert nquads(store) == []


def test_batch_with_one_bad_file_writes_nothing(store):
    with pytest.raises(FactsError):
        ingest_paths(store, [TEST_FACTS, BROKEN[0]])
    assert nquads(store) == []


def test_same_document_twice_in_one_batch_is_rejected(store):
    with pytest.raises(FactsError, match="also used by"):
        ingest_paths(store, [TEST_FACTS, TEST_FACTS])
    assert nquads(store) == []


@needs_real
def test_every_quote_of_the_article_is_verbatim_at_its_offsets():
    """Independent of the loader: walk the raw YAML for every {quote, start} pair."""
    text = REAL_TEXT.read_text(encoding="utf-8")
    raw = yaml.safe_load(REAL_FACTS.read_text(encoding="utf-8"))
    pairs: list[tuple[str, int]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "quote" in node and "start" in node:
                pairs.append((node["quote"], node["start"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw)
    assert len(pairs) > 50
    bad = [(q, s, text[s:s + len(q)]) for q, s in pairs if text[s:s + len(q)] != q]
    assert bad == []


@needs_real
def test_article_and_test_article_live_in_their_own_graphs(store):
    reports = ingest_paths(store, [REAL_FACTS, TEST_FACTS])
    graphs = {r.graph for r in reports}
    assert graphs == {source_graph("bandow-2021-07-10"), source_graph(TEST_DOC)}
    for report in reports:
        assert store.count(report.graph) == report.quads
    alone = open_store(None)
    ingest_path(alone, TEST_FACTS)
    assert set(alone.triples(source_graph(TEST_DOC))) == set(store.triples(source_graph(TEST_DOC)))


@needs_real
def test_article_conforms():
    facts = load_facts(REAL_FACTS)
    assert check_vocabulary(facts) == []
    violations = [str(v) for v in validate(compile_document(facts).quads) if v.is_violation]
    assert violations == []


# -- coverage -----------------------------------------------------------------------------


def test_paragraphs_cover_the_text():
    text = "Title\n\nFirst para\nsame para.\n \n\nSecond.\n"
    paras = paragraphs(text)
    assert [(p.start, p.end, p.text) for p in paras] == [
        (0, 5, "Title"), (7, 28, "First para\nsame para."), (32, 39, "Second.")]


def test_coverage_of_test_article(test_facts):
    report = coverage_report(test_facts, test_facts.text)
    paras = paragraphs(test_facts.text)
    for p in paras:
        assert f"## ¶{p.number} [{p.start}–{p.end})" in report
    assert "without facts: 0" in report
    assert "| kgr:Treaty1961 | kgo:signedOn | “1961-07-11”^^xsd:date |" in report
    assert "“2021-07-11”^^xsd:date †" in report


def test_coverage_flags_paragraphs_without_facts(tmp_path: Path):
    facts = tmp_path / "one.yaml"
    facts.write_text(
        f"document: {{id: one, text: {DATA}/sources/test-article.txt, title: T}}\n"
        "resources:\n"
        "  - id: kgr:USA\n    type: kgo:State\n    label: United States\n"
        "    mentions: [{quote: the United States, start: 598}]\n", encoding="utf-8")
    loaded = load_facts(facts)
    report = coverage_report(loaded, loaded.text)
    assert "without facts: 4" in report
    assert report.count("**No facts drawn from this paragraph.**") == 4
    assert "- ¶1 [0–59) “Beijing and Pyongyang Mark Treaty Anniversary With Messages”" in report


def _sections(report: str) -> dict[int, str]:
    """The report's per-paragraph sections by paragraph number."""
    parts = re.split(r"^## ¶(\d+) ", report, flags=re.M)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@needs_real
def test_coverage_lists_every_paragraph_of_the_article(capsys):
    facts = load_facts(REAL_FACTS)
    report = coverage_report(facts, facts.text)
    paras = paragraphs(facts.text)
    assert len(paras) == 25
    sections = _sections(report)
    assert sorted(sections) == [p.number for p in paras]
    quoted = {q.start for s in facts.statements() for q in s.quotes}
    empty = []
    for p in paras:
        assert sections[p.number].startswith(f"[{p.start}–{p.end})")
        has_facts = any(p.start <= start < p.end for start in quoted)
        assert ("No facts drawn from this paragraph" in sections[p.number]) == (not has_facts)
        if not has_facts:
            empty.append(p.number)
    with capsys.disabled():
        print(f"\ncoverage: paragraphs of the article without facts: {empty or 'none'}")
    if COVERAGE_MD.exists():
        assert COVERAGE_MD.read_text(encoding="utf-8") == report, (
            "docs/coverage.md is stale: run `kgraph coverage data/facts/bandow-2021-07-10.yaml "
            "-o docs/coverage.md`")


# -- command line -------------------------------------------------------------------------


def test_cli_ingest_and_errors(tmp_path: Path, capsys):
    path = tmp_path / "store"
    assert ingest_cli(["ingest", str(TEST_FACTS), "--store", str(path)]) == 0
    assert "created" in capsys.readouterr().out
    assert ingest_cli(["ingest", str(TEST_FACTS), "--store", str(path)]) == 0
    assert "unchanged" in capsys.readouterr().out
    bad = DATA / "facts" / "broken" / "bad-quotes.yaml"
    assert ingest_cli(["ingest", str(bad), "--store", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:17: " in err and "the store is unchanged" in err
    assert ingest_cli(["ingest", "--dry-run", str(TEST_FACTS), "--store", str(path)]) == 0
    assert "unchanged" in capsys.readouterr().out


def test_cli_reports_a_locked_store(tmp_path: Path, capsys):
    path = tmp_path / "store"
    holder = open_store(path)
    try:
        assert ingest_cli(["ingest", str(TEST_FACTS), "--store", str(path)]) == 2
        assert "locked" in capsys.readouterr().err
    finally:
        holder.close()


def test_cli_coverage(tmp_path: Path, capsys):
    out = tmp_path / "coverage.md"
    assert ingest_cli(["coverage", str(TEST_FACTS), "-o", str(out)]) == 0
    test_facts = load_facts(TEST_FACTS)
    assert out.read_text(encoding="utf-8") == coverage_report(test_facts, test_facts.text)
