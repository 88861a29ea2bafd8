"""Classify outcomes against the expected-failure list, and render the tables.

The list (``expected_failures.yaml``) groups failing tests by reason. A test
that fails without being listed, or passes while listed, is *unexpected*:
both make the pytest run fail, so the list always tells the truth.

Each group also says whether its tests pass when literals are compared by value
(``value_aware: pass``; the default is that they fail that way too). A listed test
whose value-aware verdict is not the one its group states is unexpected as well, so
both pass counts, strict and value-aware, are accounted for test by test.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .manifest import EVALUATION_KINDS, FORMAT_KINDS, SKIPPED_AREAS, SYNTAX_KINDS
from .runner import PASS, SKIP, Outcome

EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.yaml")

#: Protocol-level areas of the upstream suite: HTTP exchanges, not engine tests.
PROTOCOL_AREAS = {
    "sparql11/protocol": "SPARQL 1.1 Protocol",
    "sparql11/graph-store-protocol": "Graph Store HTTP Protocol",
    "sparql11/http-rdf-update": "Graph Store HTTP Protocol (older draft tests)",
    "sparql11/service-description": "SPARQL 1.1 Service Description",
}

#: What kgraph decides where the protocols leave it to the service (docs/conformance.md).
PROTOCOL_CHOICES = [
    "- **Base IRI** (SPARQL 1.1 Protocol: the service defines it). Relative IRIs in a query",
    "  or update sent to `/sparql` resolve against the endpoint's URL, `<root>/sparql`:",
    "  `CONSTRUCT { <s> <p> 1 } WHERE {}` sent to `http://127.0.0.1:5000/sparql` answers",
    "  `<http://127.0.0.1:5000/s>`, and `INSERT DATA { <test> <p> <o> }` inserts",
    "  `<http://127.0.0.1:5000/test>`. `<root>` is `KGRAPH_PUBLIC_URL` when set (behind a",
    "  proxy: the URL clients use, e.g. `https://kg.example.org/`), else the scheme, `Host`",
    "  header and script root of the request (`X-Forwarded-*` are not trusted). The base is",
    "  written into the text as a `BASE` line of its own, so the SERVICE/LOAD checks, the",
    "  embedded engine and a remote engine (tested on Oxigraph server and Virtuoso) read",
    "  the same IRIs; the text's own `BASE` still wins (a relative one resolves against",
    "  the service's), and error positions are given in the client's text. The base is",
    "  part of the answer cache's key and ETag: an answer computed for one base is never",
    "  served for another. A `Host` that makes no IRI leaves relative IRIs unresolved",
    "  (400, as without a base).",
    "- **Charset of a direct POST**: the body of `application/sparql-query` and",
    "  `application/sparql-update` is UTF-8; a declared `charset` other than UTF-8 (or its",
    "  subset US-ASCII) is refused with 415, bytes that are not UTF-8 with 400, in the",
    "  Flask views and the fast path alike.",
    "- **Graph Store, POST to the graph store itself** (`/store` with neither `?graph` nor",
    "  `?default`) of a triples document creates a graph named `<root>/store/<uuid>` and",
    "  answers 201 with that IRI as `Location`; `GET /store?graph=<IRI>` finds it, and so",
    "  does `GET <IRI>` (`/store/<name>` is direct identification of the graph",
    "  `<root>/store/<name>`). A POST of N-Quads or TriG there adds the quads (204).",
    "- **Graph Store, `multipart/form-data` POST** (to `?graph=`, `?default` or the store):",
    "  each part is an RDF triples document with its own Content-Type (or, for a part",
    "  sent as `application/octet-stream` or without a type, its file name's extension);",
    "  all parts go into the target graph, every one parsed before anything is written; a",
    "  bad part is named in the 400 (does not parse) or 415 (not an RDF triples type, or",
    "  not UTF-8). The body limit (`max_body_bytes`) holds for the whole request, and a",
    "  part's blank nodes are its own. PUT takes a single document.",
    "- **HEAD** on `/store` and `/sparql` answers with exactly the headers GET would",
    "  (Content-Type included) and no body.",
]

#: Share of query/update evaluation tests that must pass (issue 2, "Done when").
EVALUATION_TARGET = 0.98


#: Verdicts that make the pytest run fail.
UNEXPECTED = ("unexpected pass", "UNEXPECTED FAILURE", "unexpected value-aware pass",
              "UNEXPECTED VALUE-AWARE FAILURE")
VERDICTS = ("pass", "expected failure", "skipped", *UNEXPECTED)


@dataclass
class KnownFailure:
    """One entry of the expected-failure list."""

    iri: str
    category: str
    title: str
    reason: str
    #: Whether the test passes when literals are compared by value.
    value_aware: bool = False


def load_expected(path: Path = EXPECTED_FAILURES) -> dict[str, KnownFailure]:
    """Test IRI -> why it is expected to fail."""
    groups = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    known: dict[str, KnownFailure] = {}
    for group in groups:
        for iri in group["tests"]:
            if iri in known:
                raise ValueError(f"{iri} is listed twice in {path.name}")
            value_aware = group.get("value_aware", "fail")
            if value_aware not in ("pass", "fail"):
                raise ValueError(f"value_aware must be pass or fail in {group['title']!r}")
            known[iri] = KnownFailure(iri, group["category"], group["title"],
                                      group["reason"].strip(), value_aware == "pass")
    return known


@dataclass
class Report:
    """Outcomes with their verdicts against the expected-failure list."""

    outcomes: list[Outcome]
    expected: dict[str, KnownFailure]
    #: Only part of the suite ran (``--area``): listed tests may be absent.
    partial: bool = False
    verdicts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for o in self.outcomes:
            listed = o.test.iri in self.expected
            if o.status == SKIP:
                v = "skipped"
            elif o.status == PASS:
                v = "unexpected pass" if listed else "pass"
            elif not listed:
                v = "UNEXPECTED FAILURE"
            elif self.expected[o.test.iri].value_aware != (o.value_aware == PASS):
                v = ("unexpected value-aware pass" if o.value_aware == PASS
                     else "UNEXPECTED VALUE-AWARE FAILURE")
            else:
                v = "expected failure"
            self.verdicts[o.test.iri] = v

    def __repr__(self) -> str:
        return f"<Report of {len(self.outcomes)} W3C tests, {len(self.unexpected())} unexpected>"

    # -- selections -------------------------------------------------------------
    def unexpected(self, area: str | None = None) -> list[Outcome]:
        return [o for o in self.outcomes
                if self.verdicts[o.test.iri] in UNEXPECTED
                and (area is None or o.test.area == area)]

    def stale_entries(self) -> list[str]:
        """Listed IRIs that name no test of the suite."""
        if self.partial:
            return []
        iris = {o.test.iri for o in self.outcomes}
        return sorted(i for i in self.expected if i not in iris)

    def ran(self, kinds: tuple[str, ...]) -> list[Outcome]:
        return [o for o in self.outcomes if o.test.kind in kinds and o.status != SKIP]

    def rate(self, kinds: tuple[str, ...], *, values: bool = False) -> tuple[int, int]:
        """``(passed, ran)``; ``values``: passed when literals are compared by value."""
        ran = self.ran(kinds)
        return sum((o.value_aware if values else o.status) == PASS for o in ran), len(ran)

    @property
    def areas(self) -> list[str]:
        return sorted({o.test.area for o in self.outcomes})

    # -- rendering --------------------------------------------------------------
    def rows(self) -> list[tuple[str, str, int, int, int, int, int, int]]:
        """(area, kind, tests, passed, passed value-aware, expected failures, unexpected,
        skipped)."""
        counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for o in self.outcomes:
            c = counts[(o.test.area, o.test.kind)]
            c[self.verdicts[o.test.iri]] += 1
            c["strict"] += o.status == PASS
            c["values"] += o.status != SKIP and o.value_aware == PASS
        out = []
        for (area, kind), c in sorted(counts.items()):
            unexpected = sum(c[v] for v in UNEXPECTED)
            tests = sum(c[v] for v in VERDICTS)
            out.append((area, kind, tests, c["strict"], c["values"], c["expected failure"],
                        unexpected, c["skipped"]))
        return out

    def summary_lines(self) -> list[str]:
        ev_pass, ev_total = self.rate(EVALUATION_KINDS + FORMAT_KINDS)
        va_pass, _ = self.rate(EVALUATION_KINDS + FORMAT_KINDS, values=True)
        syn_pass, syn_total = self.rate(SYNTAX_KINDS)
        lines = [
            f"query/update evaluation tests (outside entailment), strict (literals as "
            f"written): {ev_pass}/{ev_total} pass ({100 * ev_pass / max(ev_total, 1):.1f}%; "
            f"target {EVALUATION_TARGET:.0%})",
            f"query/update evaluation tests, value-aware (term first, then value, as "
            f"Oxigraph's and Jena's runners compare): {va_pass}/{ev_total} pass "
            f"({100 * va_pass / max(ev_total, 1):.1f}%)",
            f"syntax tests (positive and negative, query and update): {syn_pass}/{syn_total} pass",
        ]
        kinds = EVALUATION_KINDS + FORMAT_KINDS
        for suite in ("sparql11", "sparql10"):
            ev = [o for o in self.ran(kinds) if o.test.suite == suite]
            p = sum(o.status == PASS for o in ev)
            v = sum(o.value_aware == PASS for o in ev)
            everything = [o for o in self.outcomes if o.test.suite == suite and o.status != SKIP]
            lines.append(f"{suite}: evaluation {p}/{len(ev)} ({100 * p / max(len(ev), 1):.1f}%) "
                         f"strict, {v}/{len(ev)} value-aware; all kinds "
                         f"{sum(o.status == PASS for o in everything)}/{len(everything)} strict")
        return lines

    def text_table(self) -> str:
        header = ("area", "kind", "tests", "pass", "by value", "xfail", "unexpected", "skipped")
        rows = [header] + [tuple(str(x) for x in r) for r in self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = []
        for n, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths, strict=True))))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def text(self, verbose: bool = False) -> str:
        out = [self.text_table(), ""]
        out += self.summary_lines()
        unexpected = self.unexpected()
        out.append("")
        if unexpected:
            out.append(f"{len(unexpected)} unexpected result(s):")
            for o in unexpected:
                out.append(f"- {self.verdicts[o.test.iri]}: {o.test.iri} ({o.test.name})")
                if o.detail:
                    out.append("    " + o.detail.replace("\n", "\n    "))
        else:
            out.append("no unexpected results")
        if self.stale_entries():
            out.append("listed in expected_failures.yaml but not in the suite:")
            out += [f"- {i}" for i in self.stale_entries()]
        if verbose:
            out.append("")
            out.append("expected failures:")
            for o in self.outcomes:
                if self.verdicts[o.test.iri] == "expected failure":
                    out.append(f"- {o.test.iri}\n    " + o.detail.replace("\n", "\n    "))
        return "\n".join(out)

    def markdown(self) -> str:
        ev_pass, ev_total = self.rate(EVALUATION_KINDS + FORMAT_KINDS)
        out = [
            "# W3C SPARQL conformance",
            "",
            "<!-- Generated by `python -m tests.w3c --write-docs`; do not edit by hand. -->",
            "",
            "kgraph is run against the W3C SPARQL 1.1 test suite and the SPARQL 1.0 (DAWG)",
            "suite, from the copy in `../shared/w3c-sparql11/` (override with the",
            "environment variable `KGRAPH_W3C_DIR`). Every test runs against kgraph's own",
            "store layer (`kgraph.store.open_store(None, union_default_graph=False)`) and, for",
            "SELECT/ASK/CONSTRUCT answers, against kgraph's own result writers",
            "(`kgraph.store.results`).",
            "",
            "## How to run",
            "",
            "```sh",
            "python -m tests.w3c                 # table, summary and unexpected results",
            "python -m tests.w3c -v              # ... plus every expected failure's details",
            "python -m tests.w3c --area sparql11/functions --show-all",
            "python -m tests.w3c --write-docs    # regenerate this file",
            "python -m pytest tests/test_w3c.py  # the same run as pytest tests",
            "```",
            "",
            "The pytest run fails on any failure not listed in",
            "`tests/w3c/expected_failures.yaml`, on any listed test that passes, and when",
            "the totals fall: every syntax test must pass, and the evaluation tests may",
            "not drop below the floors measured on the current engine, strict and",
            "value-aware (EVALUATION_FLOOR and VALUE_AWARE_FLOOR in tests/test_w3c.py). The",
            "98% target is reported below (strict); it is not met (see the failure reasons).",
            "",
            "Where the engine departs from the grammar or the current tests and kgraph can",
            "close the gap before the engine sees the text, it does",
            "(`kgraph.lexer.engine_text`, applied to every query and update): an IRI",
            "the longest-token rule makes of `?x<?a&&?b>?y` is a 400, not two comparisons;",
            "`TRUE`/`FALSE` in any case are the boolean keywords; every `GROUP_CONCAT(...)`",
            "is wrapped in `STR(...)`, so it yields a simple literal even when all values",
            "share a language tag (agg-groupconcat-04/06; w3c/rdf-tests#281).",
            "",
            "## Summary",
            "",
        ]
        out += [f"- {line.strip()}" for line in self.summary_lines()]
        met = ev_pass / max(ev_total, 1) >= EVALUATION_TARGET
        syn_pass, syn_total = self.rate(SYNTAX_KINDS)
        out += [
            "",
            f"Target \"at least 98% of query and update evaluation tests pass\": "
            f"**{'met' if met else 'NOT met'}**. "
            f"Target \"every syntax test passes\": "
            f"**{'met' if syn_pass == syn_total else 'NOT met'}**.",
            "",
            "## Results by area and kind",
            "",
            "`xfail` = failing (strict) and listed with a reason below; `unexpected` = a",
            "failure not listed, a listed test that passes, or a listed test whose",
            "value-aware verdict is not the one its reason states (should be 0).",
            "",
            "| area | kind | tests | pass (strict) | pass (value-aware) | xfail | unexpected | "
            "skipped |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows():
            out.append("| " + " | ".join(str(x) for x in r) + " |")
        out += ["", "## Not run here", ""]
        for area, why in SKIPPED_AREAS.items():
            out.append(f"- `{area}`: {why}.")
        for area, what in PROTOCOL_AREAS.items():
            out.append(f"- `{area}` ({what}): HTTP-level test descriptions, not machine-runnable "
                       "engine tests (and not in the shared copy of the suite); covered by "
                       "kgraph's HTTP integration tests, not counted as passes here.")
        out += ["", "## Protocol choices", ""] + PROTOCOL_CHOICES
        out += ["", "## Known failures and their reasons", ""]
        by_reason: dict[tuple[str, str, str], list[Outcome]] = defaultdict(list)
        for known in self.expected.values():  # in the list's order
            by_reason.setdefault((known.category, known.title, known.reason), [])
        for o in self.outcomes:
            known = self.expected.get(o.test.iri)
            if known is not None:
                by_reason[(known.category, known.title, known.reason)].append(o)
        value_aware = {(k.category, k.title, k.reason): k.value_aware
                       for k in self.expected.values()}
        for (category, title, reason), outcomes in by_reason.items():
            out.append(f"### {title} ({category}; {len(outcomes)} test(s))")
            out.append("")
            out.append(reason)
            out.append("")
            out.append("Value-aware comparison: these tests **pass**." if value_aware[
                (category, title, reason)] else "Value-aware comparison: these tests fail too.")
            out.append("")
            for o in outcomes:
                mark = "" if self.verdicts[o.test.iri] == "expected failure" else " **(now passes)**"
                out.append(f"- `{o.test.iri}` ({o.test.area}, {o.test.kind}){mark}")
            out.append("")
        unexpected = self.unexpected()
        out += ["## Unexpected results", ""]
        if not unexpected:
            out.append("None.")
        for o in unexpected:
            out.append(f"- {self.verdicts[o.test.iri]}: `{o.test.iri}`")
        out += [
            "",
            "## Method",
            "",
            "- Manifests are read from `sparql11/manifest-all.ttl`, `sparql10/manifest.ttl` and",
            "  `sparql10/extended-manifest-evaluation.ttl`, following `mf:include`. Files are",
            "  given their published IRIs (`https://w3c.github.io/rdf-tests/sparql/...`), which",
            "  are also the base IRIs of queries and data and the names of `qt:graphData` graphs.",
            "- Each test gets a fresh in-memory store: `qt:data`/`ut:data` in the default graph,",
            "  `qt:graphData`/`ut:graphData` in named graphs; graphs named by `FROM`/`FROM NAMED`",
            "  are loaded from the suite when they are local files.",
            "- Solutions are compared as multisets (as sequences when the query has a top-level",
            "  ORDER BY and the expected result gives an order; as sets for REDUCED tests), up to",
            "  blank-node renaming. Graphs and the datasets after updates are compared by",
            "  isomorphism (pyoxigraph canonicalization).",
            "- Two pass counts. *Strict*: literals compared exactly as written. *Value-aware*",
            "  (term first, then value, as Oxigraph's own runner and Jena's harness compare):",
            "  a test that fails strictly is compared again with every literal replaced by the",
            "  canonical literal of its value within its datatype (`tests/w3c/values.py`,",
            "  written from the XSD value spaces, not with the engine): `\"01\"^^xsd:integer`",
            "  equals `\"1\"^^xsd:integer`, `\"1.0E6\"^^xsd:double` equals `\"1000000.0e0\"`,",
            "  dateTimes with timezones are compared in UTC, language tags case-insensitively;",
            "  literals of different datatypes are never equal (`1` is not `1.0`), and CSV",
            "  answers (untyped text) are compared as text both ways. Blank nodes are matched",
            "  up to renaming in both comparisons, and every writer round trip must match too.",
            "- Each SELECT answer is also written with kgraph's JSON, XML and TSV writers (CSV for",
            "  the CSV tests) and read back; each CONSTRUCT answer with the Turtle, N-Triples and",
            "  RDF/XML writers. A test passes only if every form matches.",
            "- Federated tests: each `qt:serviceData` endpoint becomes a local HTTP endpoint on",
            "  127.0.0.1 (a free port) serving its data through a kgraph store, and the query's",
            "  SERVICE IRIs are rewritten to it (endpoint IRIs in the data too, mapped back in the",
            "  answer). Any other remote IRI (`SERVICE SILENT <http://invalid.endpoint.org/...>`,",
            "  `LOAD <http://example.org/faraway>`) is pointed at a local endpoint that answers",
            "  503: nothing leaves the machine.",
            "- Syntax tests parse without evaluating (update syntax tests run on an empty store;",
            "  a parse error is a syntax error, any other error means the syntax was accepted).",
            "",
        ]
        return "\n".join(out)
