"""Run W3C SPARQL tests against kgraph's store and result writers.

Every test gets a fresh in-memory kgraph store whose default graph is the real
default graph (``union_default_graph=False``), because the suite expects the
default graph to be exactly ``qt:data``. A query's answer is compared with the
expected result directly and after a round trip through each of kgraph's
result writers (JSON, XML, TSV, and CSV where the test asks for CSV): a test
passes only when every form kgraph can serve is right.

Every answer is compared twice: strictly (literals as written) and, when that fails,
value-aware (literals of one datatype equal when their values are, as Oxigraph's and
Jena's runners compare): an :class:`Outcome` carries both verdicts.

A test that raises is a failure of that test, never a crash of the run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from pyoxigraph import DefaultGraph, NamedNode, Quad, QueryResultsFormat, Triple

from kgraph.lexer import Token, replace_spans, service_refs, tokenize
from kgraph.sparql.relay import ServiceRelay
from kgraph.store import (
    AskResult,
    GraphResult,
    SelectResult,
    SparqlSyntaxError,
    open_store,
)
from kgraph.store.base import Store
from kgraph.store.results import write_graph, write_solutions

from .manifest import SKIPPED_AREAS, GraphFile, Suite, W3CTest
from .results import (
    Answer,
    Solutions,
    Table,
    compare_datasets,
    compare_graphs,
    compare_solutions,
    compare_tables,
    media_type_for,
    parse_csv,
    parse_graph,
    parse_results,
    read_expected,
)
from .services import StandIn, start_endpoint, start_unavailable

PASS, FAIL, SKIP = "pass", "fail", "skip"


#: Result writers every SELECT answer goes through (media type, parser format).
SOLUTION_ROUND_TRIPS = (
    ("application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", QueryResultsFormat.XML),
    ("text/tab-separated-values", QueryResultsFormat.TSV),
)
BOOLEAN_ROUND_TRIPS = SOLUTION_ROUND_TRIPS[:2]
GRAPH_ROUND_TRIPS = ("text/turtle", "application/n-triples", "application/rdf+xml")


@dataclass
class Outcome:
    """What happened to one test."""

    test: W3CTest
    status: str
    detail: str = ""
    seconds: float = 0.0
    #: The verdict when literals are compared by value (``None``: the same as ``status``).
    value_status: str | None = None

    @property
    def value_aware(self) -> str:
        """The value-aware verdict (a strict pass is a value-aware pass)."""
        return self.status if self.value_status is None else self.value_status


class TestFailure(AssertionError):
    """The test ran and kgraph's answer was wrong; ``value_pass``: it is right when
    literals are compared by value."""

    def __init__(self, message: str, value_pass: bool = False) -> None:
        super().__init__(message)
        self.value_pass = value_pass


# -- SPARQL text helpers ------------------------------------------------------------
def _prologue(tokens: list[Token], base: str) -> tuple[str, dict[str, str]]:
    prefixes: dict[str, str] = {}
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.is_word("BASE") and nxt is not None and nxt.kind == "iri":
            base = urljoin(base, nxt.text[1:-1])
        elif (tok.is_word("PREFIX") and nxt is not None and nxt.kind == "pname"
              and i + 2 < len(tokens) and tokens[i + 2].kind == "iri"):
            prefixes[nxt.text[:-1]] = urljoin(base, tokens[i + 2].text[1:-1])
    return base, prefixes


def _resolve(tok: Token, base: str, prefixes: dict[str, str]) -> str | None:
    if tok.kind == "iri":
        return urljoin(base, tok.text[1:-1])
    if tok.kind == "pname":
        prefix, _, local = tok.text.partition(":")
        return prefixes[prefix] + local if prefix in prefixes else None
    return None


def dataset_clauses(query: str, base: str) -> list[str]:
    """IRIs named by ``FROM`` / ``FROM NAMED`` (resolved)."""
    tokens = list(tokenize(query))
    base, prefixes = _prologue(tokens, base)
    iris = []
    for i, tok in enumerate(tokens):
        if tok.is_word("FROM"):
            j = i + 2 if i + 1 < len(tokens) and tokens[i + 1].is_word("NAMED") else i + 1
            if j < len(tokens):
                iri = _resolve(tokens[j], base, prefixes)
                if iri:
                    iris.append(iri)
    return iris


def has_order_by(query: str) -> bool:
    """Whether the outermost query orders its solutions."""
    tokens = list(tokenize(query))
    return any(
        tok.depth == 0 and tok.is_word("ORDER") and i + 1 < len(tokens)
        and tokens[i + 1].is_word("BY")
        for i, tok in enumerate(tokens)
    )


def sandbox(text: str, base: str, service_map: dict[str, str], unavailable: str) -> str:
    """Point every remote endpoint or document the text would reach at a local stand-in.

    ``SERVICE <iri>`` goes to its stand-in from ``service_map`` or else to the
    always-failing one; ``LOAD`` of an http(s) IRI goes to the failing one.
    """
    spans: list[tuple[int, int, str]] = []
    for ref in service_refs(text):
        if ref.iri is None:
            continue
        iri = urljoin(base, ref.iri)
        spans.append((ref.start, ref.end, f"<{service_map.get(iri, unavailable)}>"))
    tokens = list(tokenize(text))
    base, prefixes = _prologue(tokens, base)
    for i, tok in enumerate(tokens):
        if not tok.is_word("LOAD"):
            continue
        j = i + 2 if i + 1 < len(tokens) and tokens[i + 1].is_word("SILENT") else i + 1
        if j < len(tokens):
            iri = _resolve(tokens[j], base, prefixes)
            if iri and iri.split(":", 1)[0].lower() in ("http", "https"):
                spans.append((tokens[j].start, tokens[j].end, f"<{unavailable}>"))
    return replace_spans(text, spans) if spans else text


# -- answers --------------------------------------------------------------------------
def _materialize(result: object) -> Answer:
    if isinstance(result, AskResult):
        return result.value
    if isinstance(result, SelectResult):
        return Solutions(list(result.variables), [tuple(r) for r in result.rows])
    if isinstance(result, GraphResult):
        return list(result.triples)
    raise TypeError(f"unexpected result {result!r}")


def _as_result(answer: Answer) -> SelectResult | AskResult:
    if isinstance(answer, bool):
        return AskResult(answer)
    assert isinstance(answer, Solutions)
    return SelectResult(list(answer.variables), list(answer.rows))


def _rename(answer: Answer, mapping: dict[str, str]) -> Answer:
    """Replace IRIs (stand-in URLs back to the service IRIs of the test)."""
    if not mapping or not isinstance(answer, Solutions):
        return answer
    back = {NamedNode(k): NamedNode(v) for k, v in mapping.items()}
    rows = [tuple(back.get(t, t) if t is not None else None for t in row) for row in answer.rows]
    return Solutions(answer.variables, rows, answer.ordered)


class Runner:
    """Runs tests from one local copy of the suite."""

    def __init__(self, directory: Path) -> None:
        self.suite = Suite(directory)
        self._unavailable: StandIn | None = None
        # SERVICE calls go through kgraph's relay, as they do behind the endpoint.
        self.relay = ServiceRelay(timeout_s=30.0, max_bytes=64 * 1024 * 1024)

    # -- lifecycle --------------------------------------------------------------
    @property
    def unavailable(self) -> str:
        if self._unavailable is None:
            self._unavailable = start_unavailable()
        return self._unavailable.url

    def close(self) -> None:
        self.relay.close()
        if self._unavailable is not None:
            self._unavailable.close()
            self._unavailable = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ----------------------------------------------------------------
    def run(self, test: W3CTest) -> Outcome:
        start = time.perf_counter()
        if test.area in SKIPPED_AREAS:
            return Outcome(test, SKIP, SKIPPED_AREAS[test.area])
        handler = self._handler(test)
        if handler is None:
            return Outcome(test, SKIP, f"test type {test.kind} is not run here")
        value_status = None
        try:
            handler(test)
            status, detail = PASS, ""
        except TestFailure as exc:
            status, detail = FAIL, str(exc)
            value_status = PASS if exc.value_pass else FAIL
        except Exception as exc:  # a crash is this test's failure, not the run's
            tb = traceback.format_exception_only(type(exc), exc)
            status, detail = FAIL, "crashed: " + "".join(tb).strip()
        return Outcome(test, status, detail, time.perf_counter() - start, value_status)

    def run_all(self, tests: Iterable[W3CTest]) -> list[Outcome]:
        return [self.run(t) for t in tests]

    def _handler(self, test: W3CTest) -> Callable[[W3CTest], None] | None:
        return {
            "PositiveSyntaxTest": self._query_syntax,
            "PositiveSyntaxTest11": self._query_syntax,
            "NegativeSyntaxTest": self._query_syntax,
            "NegativeSyntaxTest11": self._query_syntax,
            "PositiveUpdateSyntaxTest11": self._update_syntax,
            "NegativeUpdateSyntaxTest11": self._update_syntax,
            "QueryEvaluationTest": self._query_evaluation,
            "CSVResultFormatTest": self._query_evaluation,
            "UpdateEvaluationTest": self._update_evaluation,
        }.get(test.kind)

    # -- stores -----------------------------------------------------------------
    def _load(self, store: Store, files: Iterable[GraphFile],
              rename: dict[str, str] | None = None) -> None:
        for f in files:
            data = self.suite.read_bytes(f.file)
            if not rename:
                store.load(data, media_type_for(f.file), graph=f.name, base_iri=f.file)
                continue
            graph = DefaultGraph() if f.name is None else NamedNode(f.name)
            swap = {NamedNode(k): NamedNode(v) for k, v in rename.items()}
            store.add_quads(
                Quad(swap.get(t.subject, t.subject), t.predicate, swap.get(t.object, t.object), graph)
                for t in parse_graph(data, f.file)
            )

    def _expected_dataset(self, files: Iterable[GraphFile]) -> list[Quad]:
        quads = []
        for f in files:
            graph = DefaultGraph() if f.name is None else NamedNode(f.name)
            for t in parse_graph(self.suite.read_bytes(f.file), f.file):
                quads.append(Quad(t.subject, t.predicate, t.object, graph))
        return quads

    # -- syntax tests -----------------------------------------------------------
    def _query_syntax(self, test: W3CTest) -> None:
        assert test.operation
        text = sandbox(self.suite.read_text(test.operation), test.operation, {}, self.unavailable)
        store = open_store(None, union_default_graph=False)
        # Parsing happens in query(); solutions are produced lazily and never pulled.
        self._check_syntax(test, lambda: store.query(text, base_iri=test.operation))

    def _update_syntax(self, test: W3CTest) -> None:
        assert test.operation
        text = sandbox(self.suite.read_text(test.operation), test.operation, {}, self.unavailable)
        store = open_store(None, union_default_graph=False)
        self._check_syntax(test, lambda: store.update(text, base_iri=test.operation))

    @staticmethod
    def _check_syntax(test: W3CTest, parse: Callable[[], object]) -> None:
        negative = test.kind.startswith("Negative")
        try:
            parse()
        except SparqlSyntaxError as exc:
            if not negative:
                raise TestFailure(f"rejected a valid operation: {exc}") from None
            return
        except Exception:  # parsed, then failed to evaluate on an empty store: syntax is fine
            if negative:
                raise TestFailure("accepted an invalid operation (it failed only when run)") from None
            return
        if negative:
            raise TestFailure("accepted an invalid operation")

    # -- query evaluation -----------------------------------------------------------
    def _query_evaluation(self, test: W3CTest) -> None:
        assert test.operation and test.result
        store = open_store(None, union_default_graph=False)
        stand_ins: list[StandIn] = []
        try:
            service_map: dict[str, str] = {}
            for sd in test.service_data:
                docs = [(self.suite.read_bytes(d), media_type_for(d), d) for d in sd.data]
                stand_ins.append(start_endpoint(docs))
                service_map[sd.endpoint] = self.relay.url_for(stand_ins[-1].url, trusted=True)
            # Endpoint IRIs held in the data (SERVICE ?var) must lead to the stand-ins too.
            self._load(store, test.data, rename=service_map)
            query = self.suite.read_text(test.operation)
            loaded = {f.name for f in test.data}
            for iri in dataset_clauses(query, test.operation):
                if iri not in loaded and self.suite.is_local(iri):
                    self._load(store, [GraphFile(iri, iri)])
                    loaded.add(iri)
            query = sandbox(query, test.operation, service_map, self.unavailable)
            try:
                result = store.query(query, base_iri=test.operation)
                answer = _materialize(result)
            except Exception as exc:
                raise TestFailure(f"query failed: {type(exc).__name__}: {exc}") from None
            back = {v: k for k, v in service_map.items()}
            answer = _rename(answer, back)
            _both_ways(lambda values: self._check_answer(test, query, answer, values))
        finally:
            for s in stand_ins:
                s.close()

    def _check_answer(self, test: W3CTest, query: str, answer: Answer, values: bool) -> None:
        """Raise :class:`TestFailure` unless ``answer`` (and each writer's form of it) is the
        expected one; ``values``: literals compared by value."""
        assert test.result
        expected = read_expected(self.suite, test.result)
        ext = test.result.rsplit(".", 1)[-1].lower()
        ordered = has_order_by(query)
        problems: list[str] = []

        if isinstance(expected, Table):
            if not isinstance(answer, Solutions):
                raise TestFailure(f"expected CSV solutions, got {type(answer).__name__}")
            text = "".join(write_solutions(_as_result(answer), "text/csv"))
            diff = compare_tables(expected, parse_csv(text), ordered=ordered)
            if diff:
                raise TestFailure(f"kgraph CSV writer output: {diff}\n  written:\n{text[:800]}")
            return

        if isinstance(expected, list):  # a graph (CONSTRUCT / DESCRIBE)
            if not isinstance(answer, list):
                raise TestFailure(f"expected a graph, got {type(answer).__name__}")
            diff = compare_graphs(expected, answer, values=values)
            if diff:
                raise TestFailure(f"engine answer: {diff}")
            for media in GRAPH_ROUND_TRIPS:
                body = write_graph(GraphResult(iter(answer)), media)
                triples: list[Triple] = parse_graph(body, test.result.rsplit(".", 1)[0] + "." + {
                    "text/turtle": "ttl", "application/n-triples": "nt",
                    "application/rdf+xml": "rdf"}[media])
                diff = compare_graphs(expected, triples, values=values)
                if diff:
                    problems.append(f"kgraph {media} writer output: {diff}")
            if problems:
                raise TestFailure("\n".join(problems))
            return

        if isinstance(expected, bool):
            if not isinstance(answer, bool):
                raise TestFailure(f"expected a boolean, got {type(answer).__name__}")
            if answer != expected:
                raise TestFailure(f"engine answer: expected {expected}, got {answer}")
            for media, fmt in BOOLEAN_ROUND_TRIPS:
                text = "".join(write_solutions(AskResult(answer), media))
                if parse_results(text, fmt) != expected:
                    problems.append(f"kgraph {media} writer output {text!r} does not read back as {expected}")
            if problems:
                raise TestFailure("\n".join(problems))
            return

        if not isinstance(answer, Solutions):
            raise TestFailure(f"expected solutions, got {type(answer).__name__}")
        ordered = ordered and expected.ordered
        diff = compare_solutions(expected, answer, ordered=ordered, lax=test.lax_cardinality,
                                 values=values)
        if diff:
            raise TestFailure(f"engine answer: {diff}")
        round_trips = list(SOLUTION_ROUND_TRIPS)
        if ext in ("srj", "srx", "tsv"):  # the test's own format first
            own = {"srj": 0, "srx": 1, "tsv": 2}[ext]
            round_trips.insert(0, round_trips.pop(own))
        for media, fmt in round_trips:
            text = "".join(write_solutions(_as_result(answer), media))
            try:
                back_in = parse_results(text, fmt)
            except Exception as exc:
                problems.append(f"kgraph {media} writer output does not parse: {exc}\n"
                                f"  written:\n{text[:800]}")
                continue
            if not isinstance(back_in, Solutions):
                problems.append(f"kgraph {media} writer output reads back as a boolean")
                continue
            diff = compare_solutions(expected, back_in, ordered=ordered, lax=test.lax_cardinality,
                                     values=values)
            if diff:
                problems.append(f"kgraph {media} writer output: {diff}\n  written:\n{text[:800]}")
        if problems:
            raise TestFailure("\n".join(problems))

    # -- update evaluation --------------------------------------------------------------
    def _update_evaluation(self, test: W3CTest) -> None:
        assert test.operation
        store = open_store(None, union_default_graph=False)
        self._load(store, test.data)
        update = sandbox(self.suite.read_text(test.operation), test.operation, {}, self.unavailable)
        try:
            store.update(update, base_iri=test.operation)
        except Exception as exc:
            raise TestFailure(f"update failed: {type(exc).__name__}: {exc}") from None
        expected, actual = self._expected_dataset(test.result_data), list(store.quads())

        def check(values: bool) -> None:
            diff = compare_datasets(expected, actual, values=values)
            if diff:
                raise TestFailure(f"store after the update: {diff}")

        _both_ways(check)


def _both_ways(check: Callable[[bool], None]) -> None:
    """Run ``check`` strictly; when it fails, again value-aware, and raise the strict
    failure marked with the value-aware verdict."""
    try:
        check(False)
    except TestFailure as strict:
        try:
            check(True)
        except TestFailure:
            raise strict from None
        raise TestFailure(str(strict), value_pass=True) from None
