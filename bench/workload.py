"""The benchmark's queries: competency queries, heavier analytical ones, cheap ones, one repeated.

Every query but the repeated one has one parameter, ``{}``, that the load generator replaces
in each request by a SPARQL term drawn at random from a pool (``bench/generate.py`` writes the
pools). The competency queries of ``queries/*.rq`` take their parameter as a ``VALUES``
block opened first in their WHERE clause (a trailing VALUES clause means the same, but
Oxigraph joins it only after evaluating the whole pattern: 3 s instead of 4 ms for
obligations.rq at 10^5 triples). ``wd_*.rq`` call Wikidata (SERVICE) and never run on
generated data.

The class a query is reported under is measured as well as declared: a query whose median
time in the embedded engine is over ``ENGINE_BOUND_MS`` is engine-bound; below it, the three
kinds the issue names cheap (ASK on a subject, one-subject lookup, small join) are "cheap",
and every other fast query is "light" (reported, with no target of its own).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
ENGINE_BOUND_MS = 5.0
PREFIXES = """PREFIX kgo: <https://w3id.org/kgraph/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
#: Pools of parameters that are not generated (the generated ones are in the data folder).
FIXED_POOLS: dict[str, list[str]] = {}


@dataclass(frozen=True)
class Query:
    """One query of the workload: its text with ``{}`` for the parameter, and the pool."""

    name: str
    text: str
    pool: str | None  # None: the repeated query (no parameter)
    kind: str  # "cheap", "analytical", "competency" or "repeated": where it comes from

    def render(self, term: str | None) -> str:
        return self.text if term is None else self.text.replace("{}", term)


# The competency queries that run on generated data, and the variable their parameter binds.
COMPETENCY = {
    "allies": ("a", "state"),
    "claims": ("claim", "claim"),
    "leaders": ("person", "person"),
    "meetings": ("event", "summit"),
    "obligations": ("obligation", "obligation"),
    "provenance": ("subject", "person"),
    "states": ("state", "state"),
    "treaties": ("treaty", "treaty"),
}

CHEAP = [
    Query("ask-subject", PREFIXES + "ASK { {} ?p ?o }", "state", "cheap"),
    Query("lookup", PREFIXES + "SELECT ?p ?o WHERE { {} ?p ?o }", "obligation", "cheap"),
    Query("small-join", PREFIXES + """SELECT ?treaty ?label ?signed WHERE {
  {} kgo:partyTo ?treaty . ?treaty rdfs:label ?label ; kgo:signedOn ?signed }""", "state",
          "cheap"),
]

# Every parameter pool is large (thousands of terms: a cache of answers cannot serve a
# random request), except the repeated query's, which has none.
ANALYTICAL = [
    # group-by aggregate with OPTIONAL and FILTER over the role assignments: who was in office
    # on a day (terms begun in the ten years before it and not ended before it), per role
    Query("in-office-on", PREFIXES + """SELECT ?role (COUNT(DISTINCT ?person) AS ?n) WHERE {
  ?ra kgo:startDate ?start ; kgo:role ?role ; kgo:holder ?person .
  FILTER(?start <= {} && YEAR(?start) > YEAR({}) - 10)
  OPTIONAL { ?ra kgo:endDate ?end }
  FILTER(!BOUND(?end) || xsd:integer(STR(?end)) >= YEAR({})) }
GROUP BY ?role ORDER BY ?role""", "date", "analytical"),
    # multi-hop join: attacks on a state's treaty partners, by year
    Query("attacks-on-partners", PREFIXES + """SELECT ?year (COUNT(?e) AS ?attacks)
WHERE { {} kgo:partyTo ?t . ?partner kgo:partyTo ?t . FILTER(?partner != {})
  ?e a kgo:ArmedAttack ; kgo:target ?partner ; kgo:date ?d }
GROUP BY (YEAR(?d) AS ?year) ORDER BY ?year""", "state", "analytical"),
    # FILTER NOT EXISTS over obligations: uncontested obligations of the treaties signed in
    # the three years from a day, per obligor
    Query("uncontested-obligations", PREFIXES + """SELECT ?obligor (COUNT(?o) AS ?n) WHERE {
  ?t kgo:signedOn ?signed . FILTER(?signed >= {} && YEAR(?signed) < YEAR({}) + 3)
  ?t kgo:hasProvision ?p .
  ?o kgo:sourceProvision ?p ; kgo:obligor ?obligor .
  FILTER NOT EXISTS { ?c kgo:allegesBreachOf ?t } }
GROUP BY ?obligor ORDER BY DESC(?n) ?obligor LIMIT 20""", "date", "analytical"),
    # multi-hop join with a date comparison across it: claims made since a day about treaties
    # signed before them, per reporting agency
    Query("claims-by-agency", PREFIXES + """SELECT ?agency (COUNT(?c) AS ?n) WHERE {
  ?c kgo:reportedBy ?agency ; kgo:claimDate ?d ; kgo:about ?t . ?t kgo:signedOn ?s .
  FILTER(?d >= {} && ?s < ?d) }
GROUP BY ?agency ORDER BY DESC(?n) ?agency LIMIT 10""", "date", "analytical"),
    # OPTIONAL: the leaders of a state's treaty partners over time
    Query("partners-leaders", PREFIXES + """SELECT ?party ?person ?role ?start ?end WHERE {
  {} kgo:partyTo ?t . ?party kgo:partyTo ?t .
  ?ra kgo:inOrganization ?party ; kgo:holder ?person ; kgo:role ?role ; kgo:startDate ?start .
  OPTIONAL { ?ra kgo:endDate ?end } }""", "state", "analytical"),
    # an aggregate over one year's attacks, with their targets' treaties
    Query("attacks-in-year", PREFIXES + """SELECT ?attacker (COUNT(DISTINCT ?t) AS ?treaties)
WHERE { ?e a kgo:ArmedAttack ; kgo:date ?d ; kgo:attacker ?attacker ; kgo:target ?target .
  FILTER(YEAR(?d) = YEAR({})) OPTIONAL { ?target kgo:partyTo ?t } }
GROUP BY ?attacker ORDER BY DESC(?treaties) ?attacker LIMIT 10""", "date", "analytical"),
]

REPEATED = Query("repeated-obligations-per-beneficiary", PREFIXES + """SELECT ?state
(COUNT(?o) AS ?n) WHERE {
  ?t kgo:signedOn "1965-06-06"^^xsd:date ; kgo:hasProvision ?p .
  ?o kgo:sourceProvision ?p ; kgo:beneficiary ?state ; kgo:trigger ?c .
  ?c a kgo:ArmedAttackCondition } GROUP BY ?state ORDER BY DESC(?n) ?state LIMIT 10""",
                 None, "repeated")


def competency_queries() -> list[Query]:
    """``queries/*.rq`` (those without SERVICE) with ``VALUES ?var { {} }`` opening WHERE."""
    out = []
    for name, (var, pool) in sorted(COMPETENCY.items()):
        text = (ROOT / "queries" / f"{name}.rq").read_text(encoding="utf-8")
        head, sep, body = text.partition("WHERE {")
        if not sep or "{}" in text:
            raise ValueError(f"queries/{name}.rq: no 'WHERE {{' to bind ?{var} in")
        out.append(Query(f"cq-{name}", f"{head}WHERE {{\n  VALUES ?{var} {{ {{}} }}{body}", pool,
                         "competency"))
    return out


def all_queries() -> list[Query]:
    return CHEAP + ANALYTICAL + competency_queries() + [REPEATED]


def read_pools(folder: Path) -> dict[str, list[str]]:
    """Pools of SPARQL terms: the generated ones (``pools/*.txt``) and the fixed ones."""
    pools = {k: list(v) for k, v in FIXED_POOLS.items()}
    for path in sorted(folder.glob("*.txt")):
        pools[path.stem] = [line for line in path.read_text().splitlines() if line]
    return pools


def write_pools(pools: dict[str, list[str]], folder: Path) -> None:
    """The pools as the Lua script reads them: one SPARQL term a line, not yet encoded."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, terms in pools.items():
        (folder / f"{name}.terms").write_text("".join(t + "\n" for t in terms))


def write_templates(queries: list[Query], path: Path) -> None:
    """One line per query: pool name (or ``-``), TAB, encoded text before ``{}``, TAB, after.

    A query may use its parameter more than once: each ``{}`` is a field, and the Lua script
    joins the fields with the same freshly drawn, percent-encoded term.
    """
    lines = []
    for q in queries:
        parts = [quote(p, safe="") for p in q.text.split("{}")] if q.pool else [quote(q.text,
                                                                                      safe="")]
        lines.append("\t".join([q.pool or "-", *parts]))
    path.write_text("\n".join(lines) + "\n")


def engine_times(store_dir: Path, queries: list[Query], pools: dict[str, list[str]],
                 samples: int = 7, seed: int = 11, heavy_ms: float = 3000.0
                 ) -> dict[str, dict[str, float]]:
    """Median and max milliseconds of each query in pyoxigraph, answer serialized to JSON.

    This is what an engine must do for one request (evaluate and write the results), without
    HTTP; it decides whether a query is cheap or engine-bound. A query slower than
    ``heavy_ms`` is timed once (after its warm-up run), to keep the step bounded.
    """
    import pyoxigraph as ox

    store = ox.Store.read_only(str(store_dir))
    rnd = Random(seed)
    out: dict[str, dict[str, float]] = {}
    for q in queries:
        times: list[float] = []
        for _ in range(samples + 1):  # the first run warms the caches and is not counted
            term = rnd.choice(pools[q.pool]) if q.pool else None
            t0 = time.perf_counter()
            result = store.query(q.render(term), use_default_graph_as_union=True)
            body = result.serialize(format=ox.QueryResultsFormat.JSON)  # type: ignore[union-attr]
            times.append((time.perf_counter() - t0) * 1000)
            assert body is not None
            if times[-1] > heavy_ms:  # bounded: a very slow query is timed once or twice
                break
        times = times[1:] or times
        med = statistics.median(times)
        out[q.name] = {"median_ms": round(med, 3), "max_ms": round(max(times), 3),
                       "class": "repeated" if q.pool is None else
                       "engine-bound" if med > ENGINE_BOUND_MS else
                       "cheap" if q.kind == "cheap" else "light"}
    del store
    return out
