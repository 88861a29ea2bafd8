"""The annotation rules (kgraph.ingest.rules) hold for the article's knowledge base, and each
check fails on a small bad example.

Fast: everything works on the parsed YAML and the compiled quads, with no server and no
SHACL run (the compiled article is built once per module).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad

from kgraph.ingest import compile_facts, ingest_path, load_facts
from kgraph.ingest.facts import FactsFile
from kgraph.ingest.rules import (
    Kinds,
    check_ends,
    check_evidence,
    check_hedged,
    check_rules,
    hedge_reasons,
    quoted_speech,
    sentence_span,
    sentences,
)
from kgraph.namespaces import KGO, KGR, PROV, RDF, source_graph
from kgraph.store import open_store

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
TEST_FACTS = Path(__file__).resolve().parent / "data" / "facts" / "test-article.yaml"


@pytest.fixture(scope="module")
def article() -> FactsFile:
    return load_facts(FACTS)


@pytest.fixture(scope="module")
def article_quads(article: FactsFile) -> list[Quad]:
    return compile_facts(article)


def facts_file(tmp_path: Path, text: str, resources: str) -> FactsFile:
    """A small facts file over ``text``: in ``resources``, ``@<q>@`` stands for the mention
    ``{quote: "q", start: …}`` and ``@(q)@`` for the fact keys ``quote: "q", start: …``."""
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    while "@(" in resources:
        head, tail = resources.split("@(", 1)
        quote, rest = tail.split(")@", 1)
        resources = f'{head}quote: "{quote}", start: {text.index(quote)}{rest}'
    out, rest = [], resources
    while "@<" in rest:
        head, tail = rest.split("@<", 1)
        quote, rest = tail.split(">@", 1)
        out.append(f'{head}{{quote: "{quote}", start: {text.index(quote)}}}')
    out.append(rest)
    body = "".join(out)
    (tmp_path / "t.yaml").write_text(
        "document: {id: t, text: t.txt, title: T}\nresources:\n" + body, encoding="utf-8")
    return load_facts(tmp_path / "t.yaml")


# -- the article ------------------------------------------------------------------------------


def test_article_has_no_plain_fact_from_a_hedged_or_attributed_sentence(article):
    assert [str(p) for p in check_hedged(article)] == []


def test_article_relations_name_their_ends(article):
    assert [str(p) for p in check_ends(article)] == []


def test_article_statements_are_quoted_sourced_or_derived(article, article_quads):
    assert check_evidence(article_quads, article.document.iri) == []


def test_the_rules_are_not_vacuous_on_the_article(article):
    """The checks do look at the article: its hedged sentences are found, and the
    exemptions it uses each answer the words found."""
    text = article.text
    stalled = text.index("have apparently stalled")
    assert hedge_reasons(text, _ref(text, "Talks between North Korea")) == ["apparently"]
    assert "apparently" in text[slice(*sentence_span(text, stalled, stalled + 5))]
    widely = _ref(text, "provided food and oil")
    assert hedge_reasons(text, widely) == ["widely believed"]
    assert quoted_speech(text, _ref(text, "the top leaders of the two parties")) is not None
    exempt = [s for s in article.statements() if s.asserted]
    assert len(exempt) >= 10
    kinds = Kinds.of(article)
    assert KGR + "claim/widely-believed-smuggling-and-aid" in kinds.claims
    assert KGR + "roleAssignment/DonaldTrump-President-USA" in kinds.roles


def _ref(text: str, quote: str):
    from kgraph.ingest import QuoteRef

    return QuoteRef(quote, text.index(quote), 0)


#: Statements the issue found in the file, put back after an anchor line of the fixed file:
#: (anchor, inserted YAML, the rule that must catch it).
ISSUE_EXAMPLES = [
    # "is widely believed to have … provided food and oil": the aid asserted outright.
    ('      - {quote: "provided food and oil", start: 4218}\n',
     '    facts:\n      - {p: kgo:donor, o: kgr:PRC, quote: "the PRC is widely believed to have '
     'increasingly tolerated sanctions-busting smuggling and later provided food and oil", '
     'start: 4122}\n', "hedged"),
    # "Trump's overtures … apparently left Xi fearful … then ended his freeze".
    ('      - {p: kgo:ordinal, value: 1, datatype: xsd:positiveInteger, quote: "the first of five '
     'meetings", start: 3908}\n',
     '      - {p: kgo:inResponseTo, o: kgr:event/TrumpOverturesToPyongyang, quote: "Trump’s '
     'overtures to Pyongyang apparently left Xi fearful that Beijing might lose its premier '
     'position in the North. The Chinese leader then ended his freeze", start: 3695}\n', "hedged"),
    # Xi's party role quoting the centenary speech: it names Xi and the CCP, not the role.
    ('      - {p: kgo:inOrganization, o: kgr:CCP, source: wd:Q15031}\n',
     '      - {p: kgo:inOrganization, o: kgr:CCP, quote: "Xi Jinping’s recent speech celebrating '
     'the one-hundredth anniversary of the Chinese Communist Party", start: 5894}\n', "ends"),
    # Trump's role in the USA quoting "Trump's overtures to Pyongyang".
    ('    label: "Donald Trump as president of the United States"\n    mentions:\n'
     '      - {quote: "when Donald Trump became president", start: 8256}\n    facts:\n',
     '      - {p: kgo:inOrganization, o: kgr:USA, quote: "Trump’s overtures to Pyongyang", '
     'start: 3695}\n', "ends"),
]


@pytest.mark.parametrize("anchor, inserted, rule", ISSUE_EXAMPLES,
                         ids=["food-and-oil-aid", "first-meeting-in-response", "xi-party-role",
                              "trump-role-in-usa"])
def test_the_issues_examples_fail_the_checks(tmp_path: Path, article: FactsFile, anchor: str,
                                             inserted: str, rule: str):
    """Put one of the statements issue 12 found back into (a copy of) the fixed file: the
    check for its kind reports it, at the inserted line."""
    source = FACTS.read_text(encoding="utf-8")
    assert source.count(anchor) == 1, anchor
    mutated = source.replace(anchor, anchor + inserted)
    (tmp_path / "facts").mkdir()
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "bandow-2021-07-10.txt").write_text(
        (ROOT / "data" / "sources" / "bandow-2021-07-10.txt").read_text(encoding="utf-8"),
        encoding="utf-8")
    path = tmp_path / "facts" / "bandow-2021-07-10.yaml"
    path.write_text(mutated, encoding="utf-8")
    line = mutated[:mutated.index(anchor + inserted) + len(anchor)].count("\n") + 1
    facts = load_facts(path)
    check = check_hedged if rule == "hedged" else check_ends
    before = {p.message for p in check(article)}
    found = [p for p in check(facts) if p.message not in before]
    assert [p.line for p in found] == [line + inserted.count("\n") - 1]
    assert f"[{rule}]" in found[0].message


# -- sentences --------------------------------------------------------------------------------


def test_sentences_keep_initialisms_and_closing_quotes():
    text = ("Title line\n\nHe met U.S. officials. She said “it is over.” Then it rained!\n"
            "Next line of the same paragraph?\n\nLast.")
    got = [text[s.start:s.end] for s in sentences(text)]
    assert got == ["Title line", "He met U.S. officials.", "She said “it is over.”",
                   "Then it rained!", "Next line of the same paragraph?", "Last."]


# -- rule 1: hedged or attributed sentences ---------------------------------------------------

HEDGE_TEXT = ("Talks between Alpha and Beta have apparently stalled. Alpha supported Beta. "
              "Gamma insisted that Alpha armed Beta. The Post reported four years ago that "
              "nothing changed. Delta said, “Alpha will never abandon its friend Beta again.”")

HEDGE_RESOURCES = """\
  - id: kgr:Alpha
    type: kgo:State
    label: Alpha
    mentions: [@<Alpha>@]
    facts:
      - {p: kgo:alliedWith, o: kgr:Beta, quote: "Talks between Alpha and Beta", start: 0}
  - id: kgr:Beta
    type: kgo:State
    label: Beta
    mentions: [@<Beta>@]
"""


def test_hedged_sentence_fails_a_plain_fact(tmp_path: Path):
    facts = facts_file(tmp_path, HEDGE_TEXT, HEDGE_RESOURCES)
    problems = check_hedged(facts)
    assert len(problems) == 1 and "'apparently'" in problems[0].message
    assert problems[0].line == 8  # the fact's YAML line


@pytest.mark.parametrize("quote, words", [
    ("Alpha armed Beta", ["insisted"]),                      # reported content ("that")
    ("Alpha will never abandon its friend Beta", ["said", "quoted speech"]),
    ("Alpha supported Beta", []),                            # stated as fact
    ("The Post reported four years ago", []),                # the report itself is a fact
])
def test_hedge_reasons(quote: str, words: list[str]):
    assert sorted(hedge_reasons(HEDGE_TEXT, _ref(HEDGE_TEXT, quote))) == sorted(words)


def test_a_hedge_inside_someone_elses_quotation_is_not_the_articles():
    text = "He told them on July 1, “we could win.” It rained."
    assert hedge_reasons(text, _ref(text, "on July 1")) == []
    assert sorted(hedge_reasons(text, _ref(text, "we could win"))) == ["could", "told"]


def test_hedge_exemptions_need_a_reason_naming_the_hedge(tmp_path: Path):
    bad = HEDGE_RESOURCES.replace('start: 0}', 'start: 0, asserted: "it is true"}')
    problems = check_hedged(facts_file(tmp_path, HEDGE_TEXT, bad))
    assert len(problems) == 1 and "does not answer apparently" in problems[0].message
    good = HEDGE_RESOURCES.replace(
        'start: 0}', 'start: 0, asserted: "“apparently” scopes over the stalling"}')
    assert check_hedged(facts_file(tmp_path, HEDGE_TEXT, good)) == []


def test_one_clean_quote_is_enough_and_claims_are_exempt(tmp_path: Path):
    clean = HEDGE_RESOURCES.replace(
        'start: 0}', 'start: 0, evidence: [@<Alpha supported Beta>@]}')
    assert check_hedged(facts_file(tmp_path, HEDGE_TEXT, clean)) == []
    claim = HEDGE_RESOURCES + """\
  - id: kgr:claim/stalled
    type: kgo:Assessment
    label: the talks stalled
    mentions: [@<have apparently stalled>@]
    facts:
      - {p: kgo:about, o: kgr:Alpha, quote: "Talks between Alpha and Beta", start: 0}
"""
    problems = check_hedged(facts_file(tmp_path, HEDGE_TEXT, claim))
    assert [p.line for p in problems] == [8]  # only Alpha's plain fact, not the claim's


# -- rule 2: both ends named ------------------------------------------------------------------

ENDS_TEXT = ("Alpha signed a pact. It protects the other party. Beta and Alpha met. "
             "Chief Gil leads the nation of Alpha. Gil spoke.")

ENDS_RESOURCES = """\
  - id: kgr:Alpha
    type: kgo:State
    label: Alpha
    mentions: [@<Alpha>@]
  - id: kgr:Beta
    type: kgo:State
    label: Beta
    mentions: [@<Beta>@]
  - id: kgr:Gil
    type: kgo:Person
    label: Gil
    mentions: [@<Gil>@]
  - id: kgr:role/Chief
    type: kgo:Role
    label: chief
    mentions: [@<Chief>@]
  - id: kgr:ra
    type: kgo:RoleAssignment
    label: Gil as chief of Alpha
    mentions: [@<Chief Gil leads the nation of Alpha>@]
    facts:
      - {p: kgo:holder, o: kgr:Gil, @(Gil spoke)@}
      - {p: kgo:role, o: kgr:role/Chief, @(Chief Gil)@}
      - {p: kgo:inOrganization, o: kgr:Alpha, @(Chief Gil leads the nation of Alpha)@}
"""


def test_relation_whose_quote_misses_an_end_fails(tmp_path: Path):
    text = ENDS_TEXT
    bad = ENDS_RESOURCES.replace("    mentions: [@<Alpha>@]\n", (
        "    mentions: [@<Alpha>@]\n    facts:\n"
        "      - {p: kgo:alliedWith, o: kgr:Beta, quote: \"It protects the other party\", "
        f"start: {text.index('It protects')}}}\n"), 1)
    problems = check_ends(facts_file(tmp_path, text, bad))
    messages = [p.message for p in problems]
    # Alpha is not named in "It protects the other party.", Beta neither; and the role
    # assignment's holder quote "Gil spoke" names neither the role nor Alpha.
    assert any("kgr:Alpha kgo:alliedWith kgr:Beta" in m and "do not name kgr:Alpha, kgr:Beta" in m
               for m in messages), messages
    assert any("kgr:ra" in m and "holder" in m and "kgr:role/Chief, kgr:Alpha" in m
               for m in messages), messages
    assert len(problems) == 2


def test_ends_named_by_label_mention_or_derivation(tmp_path: Path):
    text = ENDS_TEXT
    fixed = ENDS_RESOURCES.replace("@(Gil spoke)@", "@(Chief Gil)@")
    # named by a label in the same sentence ("Beta and Alpha met.")
    named = fixed.replace("    mentions: [@<Alpha>@]\n", (
        "    mentions: [@<Alpha>@]\n    facts:\n"
        f"      - {{p: kgo:alliedWith, o: kgr:Beta, quote: \"met\", start: {text.index('met')}}}\n"
    ), 1)
    assert check_ends(facts_file(tmp_path, text, named)) == []
    # "the other party" names Beta once it is listed among Beta's mentions; "It" names Alpha
    listed = fixed.replace("    mentions: [@<Beta>@]\n", "    mentions: [@<Beta>@, "
                           "@<the other party>@]\n").replace(
        "    mentions: [@<Alpha>@]\n", (
            "    mentions: [@<Alpha>@, @<It>@]\n    facts:\n"
            "      - {p: kgo:alliedWith, o: kgr:Beta, quote: \"It protects the other party\", "
            f"start: {text.index('It protects')}}}\n"), 1)
    assert check_ends(facts_file(tmp_path, text, listed)) == []
    # a derived statement says how it was resolved, so it is exempt
    derived = fixed.replace("    mentions: [@<Alpha>@]\n", (
        "    mentions: [@<Alpha>@]\n    facts:\n"
        "      - {p: kgo:alliedWith, o: kgr:Beta, quote: \"It protects the other party\", "
        f"start: {text.index('It protects')}, derived: \"the pact of the sentence before\"}}\n"
    ), 1)
    assert check_ends(facts_file(tmp_path, text, derived)) == []


# -- rule 3: quoted, sourced or derived with a reason -----------------------------------------


@pytest.fixture(scope="module")
def small() -> tuple[FactsFile, list[Quad]]:
    facts = load_facts(TEST_FACTS)
    return facts, compile_facts(facts)


def test_compiled_test_article_is_evidenced(small):
    facts, quads = small
    assert check_evidence(quads, facts.document.iri) == []


def test_unevidenced_statement_fails(small):
    facts, quads = small
    graph = NamedNode(source_graph(facts.document.doc_id))
    extra = Quad(NamedNode(KGR + "PRC"), NamedNode(KGO + "borders"), NamedNode(KGR + "Mars"),
                 graph)
    problems = check_evidence([*quads, extra], facts.document.iri)
    assert len(problems) == 1 and "Mars" in problems[0]


def test_fact_without_quote_or_source_fails(small):
    facts, quads = small
    fact = next(q.subject for q in quads if q.predicate == NamedNode(KGO + "hasEvidence"))
    stripped = [q for q in quads if not (q.subject == fact and q.predicate in (
        NamedNode(KGO + "hasEvidence"), NamedNode(PROV + "wasDerivedFrom")))]
    problems = check_evidence(stripped, facts.document.iri)
    assert any("neither a quote nor a source" in p for p in problems)
    assert any("neither quoted, sourced nor derived" in p for p in problems)


def test_derived_fact_needs_a_reason(small):
    facts, quads = small
    fact = next(q.subject for q in quads if q.predicate == NamedNode(RDF + "subject"))
    graph = NamedNode(source_graph(facts.document.doc_id))
    marked = [*quads, Quad(fact, NamedNode(KGO + "isDerived"),
                           Literal("true", datatype=NamedNode(
                               "http://www.w3.org/2001/XMLSchema#boolean")), graph),
              Quad(fact, NamedNode(KGO + "derivation"), Literal("obvious"), graph)]
    problems = check_evidence(marked, facts.document.iri)
    assert len(problems) == 1 and "derived without a reason" in problems[0]


# -- ingest reports the rules -----------------------------------------------------------------


def test_ingest_reports_rule_problems_as_warnings(tmp_path: Path):
    facts = facts_file(tmp_path, HEDGE_TEXT, HEDGE_RESOURCES)
    assert len(check_rules(facts, compile_facts(facts))) == 1
    store = open_store(None)
    try:
        report = ingest_path(store, tmp_path / "t.yaml")
    finally:
        store.close()
    assert [w for w in report.warnings if "[hedged]" in w and "apparently" in w]


def test_kgraph_ingest_prints_rule_problems_with_their_lines(tmp_path: Path, capsys):
    from kgraph.ingest.cli import main as ingest_cli

    facts_file(tmp_path, HEDGE_TEXT, HEDGE_RESOURCES)
    store = tmp_path / "store"
    assert ingest_cli(["ingest", "--dry-run", str(tmp_path / "t.yaml"), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"warning: {tmp_path / 't.yaml'}:8: [hedged]" in out
    assert not store.exists()  # a dry run creates no store
