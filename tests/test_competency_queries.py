"""The competency queries in queries/ return the article's answers.

The knowledge base enters the store the only way it may: through ``kgraph ingest``
(``ingest_path``), next to the ontology in its own graph. Every query is run twice,
on the asserted data alone and after the reasoning rules have been materialised, since
the served endpoint may hold either; the answers must be the article's in both cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode

from kgraph.ingest import ingest_path
from kgraph.loader import load_files
from kgraph.namespaces import GRAPH_ONTOLOGY, KGO, KGR, WIKIDATA_ENTITY
from kgraph.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "queries"
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
TEXT = (ROOT / "data" / "sources" / "bandow-2021-07-10.txt").read_text(encoding="utf-8")
XSD = "http://www.w3.org/2001/XMLSchema#"

EXPECTED_VARIABLES = {
    "states": ["state", "label", "wikidata"],
    "leaders": ["person", "label", "role", "organization", "start", "end", "wikidata"],
    "treaties": ["treaty", "label", "signed", "party"],
    "obligations": ["obligation", "obligor", "beneficiary", "action", "trigger", "provision",
                    "status"],
    "meetings": ["event", "label", "date", "participant"],
    "claims": ["claim", "claimant", "reportedBy", "about", "quote", "date"],
    "provenance": ["subject", "fact", "quote", "start", "end"],
    "allies": ["a", "b", "treaty"],
}


def r(local: str) -> str:
    """The IRI of a knowledge-base resource."""
    return KGR + local


def wd(qid: str) -> str:
    return WIKIDATA_ENTITY + qid


def _value(term: object) -> object:
    """IRIs as strings, literals as (lexical form, datatype IRI), unbound as None."""
    if term is None:
        return None
    if isinstance(term, NamedNode):
        return term.value
    if isinstance(term, Literal):
        return (term.value, term.datatype.value)
    return str(term)


def build_store(materialized: bool) -> Store:
    """An in-memory store with the ontology and the ingested article (and inferences)."""
    store = open_store(None)
    load_files(store, sorted((ROOT / "ontology").glob("kgraph*.ttl")), GRAPH_ONTOLOGY,
               progress=False)
    ingest_path(store, FACTS)
    if materialized:
        from kgraph.reasoning import materialize

        materialize(store)
    return store


@pytest.fixture(scope="module", params=[False, True], ids=["asserted", "materialized"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    s = build_store(request.param)
    yield s
    s.close()


def run(store: Store, name: str) -> list[dict[str, object]]:
    """Run ``queries/<name>.rq`` and return its rows as dicts of plain values."""
    result = store.query((QUERIES / f"{name}.rq").read_text(encoding="utf-8"))
    assert result.variables == EXPECTED_VARIABLES[name]
    return [dict(zip(result.variables, map(_value, row), strict=True)) for row in result.rows]


def test_every_named_query_exists_with_its_variables() -> None:
    for name in EXPECTED_VARIABLES:
        assert (QUERIES / f"{name}.rq").is_file(), name
        lines = (QUERIES / f"{name}.rq").read_text(encoding="utf-8").splitlines()
        code = [line for line in lines if not line.lstrip().startswith("#")]
        # No dataset clause: the queries run against the union default graph.
        assert not any(line.lstrip().upper().startswith("FROM") for line in code), name


def test_states(store: Store) -> None:
    rows = run(store, "states")
    states = {row["state"]: row for row in rows}
    # The article mentions exactly these five states; "a united Korea" is a scenario.
    assert set(states) == {r("PRC"), r("DPRK"), r("ROK"), r("USA"), r("Russia")}
    assert states[r("PRC")]["wikidata"] == wd("Q148")
    assert states[r("DPRK")]["wikidata"] == wd("Q423")
    assert states[r("ROK")]["wikidata"] == wd("Q884")
    assert states[r("USA")]["wikidata"] == wd("Q30")
    assert states[r("Russia")]["wikidata"] == wd("Q159")
    assert states[r("PRC")]["label"][0] == "People’s Republic of China"  # type: ignore[index]
    assert all(row["label"] is not None for row in rows)


def test_leaders(store: Store) -> None:
    rows = run(store, "leaders")
    held = {(row["person"], row["role"], row["organization"]) for row in rows}
    expected = {
        (r("XiJinping"), r("role/StateLeader"), r("PRC")),
        (r("XiJinping"), r("role/PartyLeader"), r("CCP")),
        (r("KimJongUn"), r("role/StateLeader"), r("DPRK")),
        (r("KimJongUn"), r("role/PartyLeader"), r("WorkersPartyOfKorea")),
        (r("KimIlSung"), r("role/Founder"), r("DPRK")),
        (r("WangYi"), r("role/ForeignMinister"), r("PRC")),
        (r("NorthKoreanAmbassador"), r("role/Ambassador"), r("DPRK")),
        (r("ParkGeunHye"), r("role/President"), r("ROK")),
        (r("DonaldTrump"), r("role/President"), r("USA")),
        (r("RonaldReagan"), r("role/President"), r("USA")),
        (r("DougBandow"), r("role/SeniorFellow"), r("CatoInstitute")),
        (r("DougBandow"), r("role/SpecialAssistant"), r("USA")),
    }
    assert expected <= held
    by_person = {row["person"]: row for row in rows}
    assert by_person[r("XiJinping")]["wikidata"] == wd("Q15031")
    assert by_person[r("KimJongUn")]["wikidata"] == wd("Q56226")
    assert by_person[r("DonaldTrump")]["wikidata"] == wd("Q22686")
    assert by_person[r("WangYi")]["wikidata"] is None  # not confirmed, left unlinked
    # The article gives no exact start or end of any of these roles; the one date known is
    # "when Donald Trump became president", resolved (derived, marked so) to his inauguration.
    dated = {(row["person"], row["start"], row["end"]) for row in rows
             if row["start"] is not None or row["end"] is not None}
    assert dated == {(r("DonaldTrump"), ("2017-01-20", XSD + "date"), None)}


def test_treaties(store: Store) -> None:
    rows = run(store, "treaties")
    assert {row["treaty"] for row in rows} == {r("Treaty1961")}
    assert {row["party"] for row in rows} == {r("PRC"), r("DPRK")}
    assert {row["signed"] for row in rows} == {("1961-07-11", XSD + "date")}
    assert rows[0]["label"][0] == ("Sino-DPRK Treaty of Friendship, Cooperation, and Mutual "
                                   "Assistance")


def test_obligations(store: Store) -> None:
    rows = run(store, "obligations")
    by_obligation: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_obligation.setdefault(row["obligation"], []).append(row)
    assert set(by_obligation) == {r("obligation/PRC-defend-DPRK"), r("obligation/DPRK-defend-PRC")}
    prc = by_obligation[r("obligation/PRC-defend-DPRK")]
    assert {(x["obligor"], x["beneficiary"], x["trigger"], x["provision"], x["action"])
            for x in prc} == {(r("PRC"), r("DPRK"), r("condition/AttackOnDPRK"),
                               r("Treaty1961/DefenceProvision"), r("action/RespondToAttack"))}
    # In force through its treaty, and contested by the claims that the nuclear programme
    # breached the pact and negated the defence promise.
    assert {x["status"] for x in prc} == {KGO + "InForce", KGO + "Contested"}
    dprk = by_obligation[r("obligation/DPRK-defend-PRC")]
    assert {(x["obligor"], x["beneficiary"], x["trigger"]) for x in dprk} == {
        (r("DPRK"), r("PRC"), r("condition/AttackOnPRC"))}
    # The claims say the DPRK breached the pact: that puts China's duty to the DPRK in doubt,
    # not the DPRK's own duty to China.
    assert {x["status"] for x in dprk} == {KGO + "InForce"}
    # No armed attack is reported, so nothing is triggered.
    assert KGO + "Triggered" not in {row["status"] for row in rows}


def test_meetings(store: Store) -> None:
    rows = run(store, "meetings")
    events: dict[object, dict[str, object]] = {}
    for row in rows:
        entry = events.setdefault(row["event"], {"date": row["date"], "participants": set()})
        entry["participants"].add(row["participant"])  # type: ignore[union-attr]
    wang = events[r("event/WangYiAmbassadorMeeting2021")]
    assert wang["date"] == ("2021-05", XSD + "gYearMonth")
    assert wang["participants"] == {r("WangYi"), r("NorthKoreanAmbassador")}
    assert events[r("event/XiKimMeeting1")]["date"] == ("2018-03", XSD + "gYearMonth")
    assert events[r("event/XiKimMeeting2019")]["date"] == ("2019", XSD + "gYear")
    assert events[r("event/XiKimMeeting2019")]["participants"] == {r("XiJinping"),
                                                                  r("KimJongUn")}
    assert events[r("event/XiParkSummits")]["participants"] == {r("XiJinping"),
                                                               r("ParkGeunHye")}
    assert r("event/XiKimMeetings") in events
    # Speeches, anniversaries and wars are events but not meetings.
    assert r("event/XiCentenarySpeech") not in events
    assert r("event/KoreanWar") not in events


def test_claims(store: Store) -> None:
    rows = run(store, "claims")
    claims: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        claims.setdefault(row["claim"], []).append(row)
    scmp = claims[r("claim/scmp-2017-not-obliged")]
    assert {(x["claimant"], x["reportedBy"], x["date"]) for x in scmp} == {
        (r("ChineseObservers"), r("SCMP"), ("2017", XSD + "gYear"))}
    assert r("obligation/PRC-defend-DPRK") in {x["about"] for x in scmp}
    assert {x["quote"][0] for x in scmp} == {  # type: ignore[index]
        "China is not obliged to help defend North Korea as the latter's development of "
        "nuclear weapons has breached a mutual defense pact."}
    wang = [x for c, xs in claims.items() for x in xs if x["claimant"] == r("WangYi")]
    assert len({x["claim"] for x in wang}) >= 4
    assert {x["date"] for x in wang} == {("2021-05", XSD + "gYearMonth")}
    xi = [x for xs in claims.values() for x in xs if x["claimant"] == r("XiJinping")]
    assert {x["date"] for x in xi} == {("2021-07-01", XSD + "date")}
    assert any("great wall of steel" in x["quote"][0] for x in xi)  # type: ignore[index]
    assert {x["reportedBy"] for x in xi} == {r("DougBandow")}
    # Every claim text is verbatim from the article.
    for row in rows:
        if row["quote"] is not None and "..." not in row["quote"][0]:  # type: ignore[index]
            assert row["quote"][0] in TEXT, row  # type: ignore[index]


def test_provenance(store: Store) -> None:
    rows = run(store, "provenance")
    assert len(rows) > 500
    for row in rows:
        start, end = int(row["start"][0]), int(row["end"][0])  # type: ignore[index]
        assert TEXT[start:end] == row["quote"][0], row  # type: ignore[index]
    treaty = {(row["quote"][0], row["start"][0]) for row in rows  # type: ignore[index]
              if row["subject"] == r("Treaty1961")}
    assert ("on July 11, 1961", str(TEXT.index("on July 11, 1961"))) in treaty


def test_allies(store: Store) -> None:
    rows = run(store, "allies")
    assert {(row["a"], row["b"], row["treaty"]) for row in rows} == {
        (r("PRC"), r("DPRK"), r("Treaty1961")), (r("DPRK"), r("PRC"), r("Treaty1961"))}


def test_allies_needs_a_treaty_in_force() -> None:
    """A mutual defence treaty counts only while in force; the answer follows the data."""
    store = build_store(materialized=False)
    try:
        store.update("""
            PREFIX kgo: <https://w3id.org/kgraph/ontology#>
            PREFIX kgr: <https://w3id.org/kgraph/resource/>
            PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
            INSERT DATA { GRAPH <urn:test:extra> {
                <https://w3id.org/kgraph/resource/test/FutureTreaty> a kgo:MutualDefenceTreaty ;
                    kgo:hasParty kgr:USA , kgr:ROK ;
                    kgo:signedOn "2090-01-01"^^xsd:date .
                <https://w3id.org/kgraph/resource/test/PactInForce> a kgo:MutualDefenceTreaty ;
                    kgo:hasParty kgr:USA , kgr:Russia ;
                    kgo:status kgo:InForce .
            } }""")
        pairs = {(row["a"], row["b"]) for row in run(store, "allies")}
        assert (r("USA"), r("Russia")) in pairs and (r("Russia"), r("USA")) in pairs
        assert (r("USA"), r("ROK")) not in pairs
        store.update("""
            PREFIX kgo: <https://w3id.org/kgraph/ontology#>
            PREFIX kgr: <https://w3id.org/kgraph/resource/>
            INSERT DATA { GRAPH <urn:test:extra> { kgr:Treaty1961 kgo:status kgo:Terminated } }""")
        pairs = {(row["a"], row["b"]) for row in run(store, "allies")}
        assert (r("PRC"), r("DPRK")) not in pairs
    finally:
        store.close()
