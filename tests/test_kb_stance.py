"""Every stance in the knowledge base agrees with the thing it is a stance toward.

The ontology defines a stance as the attitude of a claim or position toward what it is
about (kgo:Against: "opposes, denies or disputes"; kgo:InFavour: "supports or affirms").
A stance is checkable only when that target is explicit and the words that carry the
stance are known, so the facts file states both (docs/facts-format.md, "Stances"):

1. **one target**: a claim or position with a ``kgo:stance`` names exactly one
   ``kgo:stanceToward``, and that target is one of its ``kgo:about`` / ``kgo:ascribes``
   (claims) or ``kgo:topic`` / ``kgo:preferred`` / ``kgo:dispreferred`` (positions) values;
2. **the cue names the target**: the quote of the ``kgo:stance`` statement (its *cue*, the
   words that carry the attitude) overlaps a quote of the statement linking the resource to
   that target, so the attitude read from the cue is an attitude toward the target;
3. **the cue's polarity matches the stance**: the cue is scored with a small lexicon of
   evaluative words (support/praise/want vs oppose/denounce/fear/deny), a negator
   ("not", "never", "no", "little", "-n't") flipping the words after it up to the end of
   its clause. ``InFavour`` needs more positive than negative words, ``Against`` more
   negative than positive; ``Neutral`` none; ``Ambivalent`` a hedge ("apparently",
   "unclear", ...) or both kinds. A cue that only hedges or describes ("apparently
   stalled", "is widely believed") supports no InFavour or Against;
4. **structure agrees**: a claim that contests, negates or alleges a breach of its
   target is Against it; a preference is not Against its preferred scenario nor InFavour
   of its dispreferred one.

The checker reads the loaded facts file (quotes and offsets), so a problem is reported at
the YAML line of the statement concerned. Small bad files below must fail it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyoxigraph import NamedNode

from kgraph.ingest import load_facts
from kgraph.ingest.facts import FactsFile, FactSpec, ResourceSpec
from kgraph.namespaces import KGO

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"

STANCE = KGO + "stance"
STANCE_TOWARD = KGO + "stanceToward"
#: Statements that link a claim or position to what it is about.
TARGET_LINKS = frozenset(KGO + p for p in ("about", "ascribes", "topic", "preferred",
                                           "dispreferred"))
CONTESTING = frozenset(KGO + p for p in ("contests", "negates", "allegesBreachOf"))
IN_FAVOUR, AGAINST, NEUTRAL, AMBIVALENT = (KGO + s for s in ("InFavour", "Against", "Neutral",
                                                            "Ambivalent"))
CLAIM_TYPES = frozenset(KGO + t for t in ("AttributedClaim", "Assessment", "PolicyRecommendation"))

# -- the cue lexicon ------------------------------------------------------------------------
# Stems (a word matches when it starts with one); ``=word`` matches the whole word only.
POSITIVE = ("support", "prefer", "favour", "favor", "prais", "reaffirm", "affirm", "endors",
            "cherish", "valuab", "solid", "vitality", "friend", "allies", "=ally", "warm",
            "hope", "willing", "deepen", "want", "welcom", "=great", "=must", "necessar", "stood_up",
            "overcam", "overcom", "=win", "winning", "help", "ensur", "assist", "cooperat",
            "demand", "listen", "credit", "benefit", "defend", "protect", "=back", "backing")
NEGATIVE = ("oppos", "denounc", "criticiz", "criticis", "condemn", "displeas", "antagon",
            "fear", "refus", "reject", "=deny", "denies", "denied", "disput", "breach", "negat",
            "=charge", "accus", "manipulat", "containment", "threat", "=halt", "bodes_ill",
            "trolling", "bull", "oppress", "subjugat", "abus", "underestimat", "take_advantage",
            "delusion", "=crack", "spill_blood", "imperialis", "hegemon", "subversi", "sabotag",
            "provocat", "=against", "warn", "dislik", "bizarre", "perfid", "confrontation",
            "defian", "harsh", "undermin", "collision", "attack", "aggressi", "hostil",
            "adversar", "=ill")
NEGATORS = frozenset({"not", "never", "no", "no_one", "little", "without", "nobody",
                      "nothing", "neither", "nor", "cannot"})
HEDGES = frozenset({"apparently", "widely_believed", "believed", "perhaps", "probably",
                    "reportedly", "allegedly", "could", "may", "might", "seem", "seems",
                    "seemed", "likely", "possibly", "possible", "unclear", "uncertain",
                    "looks_like", "look_like"})
#: Multi-word cues, joined with "_" before tokenizing.
PHRASES = ("widely believed", "looks like", "look like", "stood up", "take advantage",
           "spill blood", "bodes ill", "no one")
#: A negator's scope ends at clause punctuation or a contrastive conjunction.
SCOPE_ENDS = frozenset({".", ";", ":", "!", "?", "—", "but", "yet", "while", "although",
                        "despite", "however"})
_TOKEN = re.compile(r"[a-z_]+(?:'[a-z]+)?|[.;:!?—]")


def _matches(word: str, lexicon: Iterable[str]) -> bool:
    return any(word == entry[1:] if entry.startswith("=") else word.startswith(entry)
               for entry in lexicon)


def tokens(text: str) -> list[str]:
    """Lower-case words (phrases of :data:`PHRASES` joined by ``_``) and clause punctuation."""
    text = text.lower().replace("’", "'")
    for phrase in PHRASES:
        text = re.sub(r"\b" + re.escape(phrase) + r"\b", phrase.replace(" ", "_"), text)
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Polarity:
    """What a cue says: positive and negative evaluative words (after negation), hedges."""

    positive: int
    negative: int
    hedged: bool


def polarity(cue: str) -> Polarity:
    """Score ``cue`` with the lexicon; a negator flips the words after it in its clause."""
    positive = negative = 0
    hedged = negated = False
    for word in tokens(cue):
        if word in SCOPE_ENDS:
            negated = False
        elif word in NEGATORS or word.endswith("n't"):
            negated = not negated
        elif word in HEDGES:
            hedged = True
        else:
            sign = 1 if _matches(word, POSITIVE) else -1 if _matches(word, NEGATIVE) else 0
            if negated:
                sign = -sign
            positive += sign > 0
            negative += sign < 0
    return Polarity(positive, negative, hedged)


def agrees(stance: str, cue: Polarity) -> bool:
    """Whether a cue with this polarity can carry ``stance`` (rule 3 of the module doc)."""
    if stance == IN_FAVOUR:
        return cue.positive > cue.negative
    if stance == AGAINST:
        return cue.negative > cue.positive
    if stance == NEUTRAL:
        return cue.positive == cue.negative == 0
    if stance == AMBIVALENT:
        return cue.hedged or (cue.positive > 0 and cue.negative > 0)
    return False


# -- the checker ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StanceProblem:
    resource: str
    line: int
    rule: str
    message: str


def _local(iri: str) -> str:
    return iri.rsplit("#", 1)[-1] if iri.startswith(KGO) else iri.rsplit("/resource/", 1)[-1]


def _objects(resource: ResourceSpec, predicates: Iterable[str]) -> list[FactSpec]:
    wanted = set(predicates)
    return [f for f in resource.facts if f.predicate in wanted and isinstance(f.obj, NamedNode)]


def _overlaps(a: FactSpec, b: FactSpec) -> bool:
    return any(x.start < y.end and y.start < x.end for x in a.quotes for y in b.quotes)


def check_stances(facts: FactsFile) -> list[StanceProblem]:
    """Every way a stance of ``facts`` contradicts or floats free of its target."""
    problems: list[StanceProblem] = []
    for resource in facts.resources:
        stances = _objects(resource, [STANCE])
        if not stances:
            if CLAIM_TYPES & set(resource.types):
                problems.append(StanceProblem(resource.iri, resource.line, "missing",
                                              "an attributed claim without a kgo:stance"))
            continue

        def problem(line: int, rule: str, message: str, iri: str = resource.iri) -> None:
            problems.append(StanceProblem(iri, line, rule, f"{_local(iri)}: {message}"))

        stance = stances[0]
        value = stance.obj.value
        targets = _objects(resource, [STANCE_TOWARD])
        if len(targets) != 1:
            problem(stance.line, "target", f"{len(targets)} kgo:stanceToward; a stance is "
                    "relative to exactly one target")
            continue
        target = targets[0].obj.value
        links = [f for f in _objects(resource, TARGET_LINKS) if f.obj.value == target]
        if not links:
            problem(targets[0].line, "target", f"the stance target {_local(target)} is not "
                    "one of what the claim is about (kgo:about/ascribes) or the position's "
                    "topic (kgo:topic/preferred/dispreferred)")
            continue
        if not any(_overlaps(stance, link) for link in links):
            problem(stance.line, "cue", f"the stance's quote does not touch the words that "
                    f"name its target {_local(target)}: quote the words that carry the "
                    "attitude toward it")
        cue = " … ".join(q.text for q in stance.quotes)
        score = polarity(cue)
        if not agrees(value, score):
            problem(stance.line, "polarity", f"{_local(value)} toward {_local(target)}, but "
                    f"the cue “{cue}” reads +{score.positive}/-{score.negative}"
                    f"{' (hedged)' if score.hedged else ''}")
        contested = {f.obj.value for f in _objects(resource, CONTESTING)}
        if target in contested and value != AGAINST:
            problem(stance.line, "structure", f"the claim contests {_local(target)}, so its "
                    "stance toward it is Against")
        preferred = {f.obj.value for f in _objects(resource, [KGO + "preferred"])}
        dispreferred = {f.obj.value for f in _objects(resource, [KGO + "dispreferred"])}
        if (target in preferred and value == AGAINST) or \
                (target in dispreferred and value == IN_FAVOUR):
            problem(stance.line, "structure", f"a preference cannot be {_local(value)} its "
                    f"{'preferred' if target in preferred else 'dispreferred'} scenario")
    return problems


# -- the article ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def article() -> FactsFile:
    return load_facts(FACTS)


def test_every_stance_of_the_article_agrees_with_its_target(article: FactsFile) -> None:
    problems = check_stances(article)
    assert not problems, "\n".join(f"{FACTS.name}:{p.line}: [{p.rule}] {p.message}"
                                   for p in problems)


def test_every_claim_is_attributed_with_its_exact_words(article: FactsFile) -> None:
    """Claimant, reporter, the report it appeared in, a stance, and words copied verbatim."""
    claims = [r for r in article.resources if CLAIM_TYPES & set(r.types)]
    assert len(claims) >= 40
    for claim in claims:
        predicates = {f.predicate for f in claim.facts}
        for needed in ("claimant", "reportedBy", "reportedIn", "claimText", "stance"):
            assert KGO + needed in predicates, (claim.iri, needed)
        for text in (f for f in claim.facts if f.predicate == KGO + "claimText"):
            assert text.obj.value in {q.text for q in text.quotes}, (claim.iri, text.obj.value)


def test_the_article_states_stances_toward_explicit_targets(article: FactsFile) -> None:
    with_stance = [r for r in article.resources if _objects(r, [STANCE])]
    assert len(with_stance) >= 50
    # The stances the issue found contradicting their targets now read as the article does.
    stance_of = {r.iri.rsplit("/resource/", 1)[1]: _objects(r, [STANCE])[0].obj.value
                 for r in with_stance}
    assert stance_of["claim/bandow-talks-stalled"] == NEUTRAL
    assert stance_of["claim/widely-believed-smuggling-and-aid"] == NEUTRAL
    assert stance_of["claim/xi-2021-07-01-overcame-subversion"] == IN_FAVOUR
    assert stance_of["claim/xi-2021-07-01-great-wall-of-steel"] == IN_FAVOUR
    assert stance_of["claim/xi-2021-07-01-never-allow-bullying"] == IN_FAVOUR


# -- the lexicon and small bad files -----------------------------------------------------------


@pytest.mark.parametrize(("cue", "expected"), [
    ("does not want", (0, 1, False)),
    ("we will never allow any foreign force to bully, oppress, or subjugate us", (3, 0, False)),
    ("China and North Korea Aren’t Friends Yet Act Like Allies", (1, 1, False)),
    ("gave Beijing little credit", (0, 1, False)),
    ("is widely believed", (0, 0, True)),
    ("apparently stalled", (0, 0, True)),
    ("the strongest support", (1, 0, False)),
    ("relations look stronger than ever", (0, 0, False)),
])
def test_polarity_of_cues(cue: str, expected: tuple[int, int, bool]) -> None:
    score = polarity(cue)
    assert (score.positive, score.negative, score.hedged) == expected


TEXT = ("Mao denounced the plan. Kim praised the plan. Talks on the plan have apparently stalled. "
        "The officials said the plan is void.\n")


def _facts_file(tmp_path: Path, claim_facts: str) -> FactsFile:
    """A one-claim facts file over :data:`TEXT` whose claim has ``claim_facts``."""
    (tmp_path / "sources").mkdir(exist_ok=True)
    (tmp_path / "facts").mkdir(exist_ok=True)
    (tmp_path / "sources" / "t.txt").write_text(TEXT, encoding="utf-8")
    body = textwrap.dedent("""\
        document: {id: t, text: ../sources/t.txt, title: "t"}
        resources:
          - id: kgr:Mao
            type: kgo:Person
            label: "Mao"
            mentions: [{quote: "Mao", start: 0}]
          - id: kgr:Plan
            type: kgo:Policy
            label: "the plan"
            mentions: [{quote: "the plan", start: 14}]
          - id: kgr:Other
            type: kgo:Policy
            label: "the talks"
            mentions: [{quote: "Talks", start: 46}]
          - id: kgr:claim/c
            type: kgo:AttributedClaim
            label: "a claim"
            mentions: [{quote: "Mao denounced the plan", start: 0}]
            facts:
              - {p: kgo:claimant, o: kgr:Mao, quote: "Mao", start: 0}
        """)
    for line in claim_facts.strip().splitlines():
        body += "      " + line.strip() + "\n"
    path = tmp_path / "facts" / "t.yaml"
    path.write_text(body, encoding="utf-8")
    return load_facts(path)


GOOD = """
- {p: kgo:about, o: kgr:Plan, quote: "Mao denounced the plan", start: 0}
- {p: kgo:stance, o: kgo:Against, quote: "denounced", start: 4}
- {p: kgo:stanceToward, o: kgr:Plan, quote: "the plan", start: 14}
"""


def test_a_stance_that_agrees_with_its_target_passes(tmp_path: Path) -> None:
    assert check_stances(_facts_file(tmp_path, GOOD)) == []


@pytest.mark.parametrize(("facts", "rule"), [
    # A denial marked InFavour of what it denies.
    (GOOD.replace("kgo:Against", "kgo:InFavour"), "polarity"),
    # Praise marked Against what it praises.
    ("""- {p: kgo:about, o: kgr:Plan, quote: "Kim praised the plan", start: 24}
        - {p: kgo:stance, o: kgo:Against, quote: "praised", start: 28}
        - {p: kgo:stanceToward, o: kgr:Plan, quote: "the plan", start: 36}""", "polarity"),
    # "have apparently stalled" reports and hedges; it is not Against the talks.
    ("""- {p: kgo:about, o: kgr:Other, quote: "Talks on the plan have apparently stalled", start: 46}
        - {p: kgo:stance, o: kgo:Against, quote: "apparently stalled", start: 69}
        - {p: kgo:stanceToward, o: kgr:Other, quote: "Talks", start: 46}""", "polarity"),
    # A stance with no target.
    ("""- {p: kgo:about, o: kgr:Plan, quote: "Mao denounced the plan", start: 0}
        - {p: kgo:stance, o: kgo:Against, quote: "denounced", start: 4}""", "target"),
    # A target the claim is not about.
    (GOOD.replace("o: kgr:Plan, quote: \"the plan\"", "o: kgr:Other, quote: \"the plan\""),
     "target"),
    # The cue lies elsewhere than the words naming the target.
    (GOOD.replace('quote: "denounced", start: 4', 'quote: "praised", start: 28'), "cue"),
    # A claim that negates its target cannot be anything but Against it.
    ("""- {p: kgo:about, o: kgr:Plan, quote: "the plan is void", start: 108}
        - {p: kgo:negates, o: kgr:Plan, quote: "the plan is void", start: 108}
        - {p: kgo:stance, o: kgo:Neutral, quote: "said the plan", start: 103}
        - {p: kgo:stanceToward, o: kgr:Plan, quote: "the plan", start: 108}""", "structure"),
    # A claim with no stance at all.
    ("""- {p: kgo:about, o: kgr:Plan, quote: "Mao denounced the plan", start: 0}""", "missing"),
])
def test_a_stance_that_contradicts_or_misses_its_target_fails(tmp_path: Path, facts: str,
                                                              rule: str) -> None:
    problems = check_stances(_facts_file(tmp_path, facts))
    assert rule in {p.rule for p in problems}, problems


# -- a position a claim ascribes is that claim's content ---------------------------------------


def test_a_hedged_position_is_exempt_only_when_a_claim_ascribes_it(tmp_path: Path) -> None:
    """ingest.rules' [hedged] check: "apparently" counts against a bare position, not against
    one that the claim carrying the hedge ascribes (kgo:ascribes)."""
    from kgraph.ingest.rules import check_hedged

    text = "Mao apparently feared the plan.\n"
    (tmp_path / "sources").mkdir()
    (tmp_path / "facts").mkdir()
    (tmp_path / "sources" / "t.txt").write_text(text, encoding="utf-8")
    position = textwrap.dedent("""\
        document: {id: t, text: ../sources/t.txt, title: "t"}
        resources:
          - id: kgr:Mao
            type: kgo:Person
            label: "Mao"
            mentions: [{quote: "Mao", start: 0}]
          - id: kgr:position/fear
            type: kgo:Concern
            label: "Mao feared the plan"
            mentions: [{quote: "Mao apparently feared the plan", start: 0}]
            facts:
              - {p: kgo:positionHolder, o: kgr:Mao, quote: "Mao apparently feared", start: 0}
        """)
    claim = textwrap.indent(textwrap.dedent("""\
          - id: kgr:claim/reading
            type: kgo:Assessment
            label: "a reading of Mao"
            mentions: [{quote: "Mao apparently feared the plan", start: 0}]
            facts:
              - {p: kgo:claimant, o: kgr:Mao, quote: "Mao", start: 0}
              - {p: kgo:ascribes, o: kgr:position/fear, quote: "apparently feared the plan", start: 4}
        """), "  ")
    path = tmp_path / "facts" / "t.yaml"
    path.write_text(position, encoding="utf-8")
    assert [p.line for p in check_hedged(load_facts(path))] != []
    path.write_text(position + claim, encoding="utf-8")
    assert check_hedged(load_facts(path)) == []
