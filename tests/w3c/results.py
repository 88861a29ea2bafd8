"""Expected results: reading them, and comparing them with kgraph's answers.

Solution sequences and graphs are compared up to blank-node renaming. Rather
than a hand-written matcher, both sides are encoded as RDF (one blank node per
solution, one triple per binding, a position when order matters) and the two
datasets are canonicalized with pyoxigraph: two encodings are equal exactly
when the solution multisets (or sequences) are isomorphic.

Two comparisons: *strict*, literals compared as given (``"01"^^xsd:integer`` is
not ``"1"^^xsd:integer``), and *value-aware* (``values=True``), where each literal
is first replaced by the canonical literal of its value (:mod:`tests.w3c.values`),
so terms are compared first and values then, as Oxigraph's and Jena's runners do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyoxigraph import (
    BlankNode,
    CanonicalizationAlgorithm,
    Dataset,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    RdfFormat,
    Triple,
    parse,
    parse_query_results,
)

from .manifest import Suite
from .values import canonical

RS = "http://www.w3.org/2001/sw/DataAccess/tests/result-set#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD_INTEGER = NamedNode("http://www.w3.org/2001/XMLSchema#integer")

_ENCODE_NS = "urn:kgraph:w3c:"
_INDEX = NamedNode(_ENCODE_NS + "index")
_DISTINCT_MARK = NamedNode(_ENCODE_NS + "row")

Term = NamedNode | BlankNode | Literal | Triple

RDF_MEDIA_TYPES = {
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "rdf": "application/rdf+xml",
    "nq": "application/n-quads",
    "trig": "application/trig",
}


@dataclass
class Solutions:
    """A SELECT answer: variables, rows (``None`` = unbound) and whether order is given."""

    variables: list[str]
    rows: list[tuple[Term | None, ...]]
    ordered: bool = True

    def project(self, variables: Sequence[str]) -> list[tuple[Term | None, ...]]:
        """Rows with columns in the order of ``variables`` (missing ones unbound)."""
        pos = [self.variables.index(v) if v in self.variables else None for v in variables]
        return [tuple(row[i] if i is not None else None for i in pos) for row in self.rows]


@dataclass
class Table:
    """A CSV answer: header and rows of strings (CSV keeps no term types)."""

    header: list[str]
    rows: list[list[str]]


Answer = Solutions | bool | list[Triple] | Table


def media_type_for(iri: str) -> str:
    ext = iri.rsplit(".", 1)[-1].lower()
    try:
        return RDF_MEDIA_TYPES[ext]
    except KeyError:
        raise ValueError(f"no RDF media type for {iri}") from None


def parse_graph(data: bytes, iri: str) -> list[Triple]:
    fmt = RdfFormat.from_media_type(media_type_for(iri))
    return [Triple(q.subject, q.predicate, q.object) for q in parse(data, format=fmt, base_iri=iri, rename_blank_nodes=True)]


def from_query_results(results: object, ordered: bool = True) -> Solutions | bool:
    """pyoxigraph's parsed results as :class:`Solutions` or a boolean."""
    if isinstance(results, QueryBoolean):
        return bool(results)
    variables = [v.value for v in results.variables]  # type: ignore[attr-defined]
    rows = [tuple(s[v] for v in variables) for s in results]  # type: ignore[attr-defined]
    return Solutions(variables, rows, ordered)


def parse_results(data: bytes | str, fmt: QueryResultsFormat) -> Solutions | bool:
    return from_query_results(parse_query_results(data, fmt))


def parse_csv(text: str) -> Table:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return Table([], [])
    return Table(rows[0], rows[1:])


def read_expected(suite: Suite, iri: str) -> Answer:
    """The expected answer in any of the suite's result files."""
    ext = iri.rsplit(".", 1)[-1].lower()
    data = suite.read_bytes(iri)
    if ext in ("srx", "srj", "tsv"):
        fmt = {"srx": QueryResultsFormat.XML, "srj": QueryResultsFormat.JSON,
               "tsv": QueryResultsFormat.TSV}[ext]
        return parse_results(data, fmt)
    if ext == "csv":
        return parse_csv(data.decode("utf-8"))
    triples = parse_graph(data, iri)
    result_set = _from_result_set_graph(triples)
    return triples if result_set is None else result_set


def _from_result_set_graph(triples: list[Triple]) -> Solutions | bool | None:
    """Decode the DAWG result-set vocabulary (``rs:ResultSet``); ``None`` if absent."""
    by_subject: dict[object, dict[str, list]] = {}
    for t in triples:
        by_subject.setdefault(t.subject, {}).setdefault(t.predicate.value, []).append(t.object)
    sets = [s for s, po in by_subject.items() if NamedNode(RS + "ResultSet") in po.get(RDF_TYPE, [])]
    if not sets:
        return None
    props = by_subject[sets[0]]
    if RS + "boolean" in props:
        return props[RS + "boolean"][0].value == "true"
    variables = [v.value for v in props.get(RS + "resultVariable", [])]
    rows: list[tuple[int | None, tuple]] = []
    for solution in props.get(RS + "solution", []):
        sol = by_subject.get(solution, {})
        values: dict[str, Term] = {}
        for binding in sol.get(RS + "binding", []):
            b = by_subject.get(binding, {})
            var = b.get(RS + "variable", [None])[0]
            value = b.get(RS + "value", [None])[0]
            if var is not None and value is not None:
                values[var.value] = value
        index = sol.get(RS + "index", [None])[0]
        rows.append((int(index.value) if index is not None else None,
                     tuple(values.get(v) for v in variables)))
    ordered = bool(rows) and all(i is not None for i, _ in rows)
    if ordered:
        rows.sort(key=lambda r: r[0])  # type: ignore[arg-type,return-value]
    return Solutions(variables, [r for _, r in rows], ordered)


# -- comparison ------------------------------------------------------------------
def _canonical(quads: Iterable[Quad]) -> Dataset:
    dataset = Dataset(quads)
    dataset.canonicalize(CanonicalizationAlgorithm.UNSTABLE)
    return dataset


def _encode_rows(
    variables: Sequence[str], rows: Iterable[Sequence[Term | None]], ordered: bool
) -> list[Quad]:
    graph = DefaultGraph()
    preds = [NamedNode(_ENCODE_NS + "var/" + v) for v in variables]
    quads = []
    for n, row in enumerate(rows):
        node = BlankNode()
        quads.append(Quad(node, _DISTINCT_MARK, _DISTINCT_MARK, graph))
        if ordered:
            quads.append(Quad(node, _INDEX, Literal(str(n), datatype=XSD_INTEGER), graph))
        for pred, value in zip(preds, row, strict=True):
            if value is not None:
                quads.append(Quad(node, pred, value, graph))
    return quads


def _show_rows(variables: Sequence[str], rows: Sequence[Sequence[object]], limit: int = 12) -> str:
    lines = ["    " + " | ".join("?" + v for v in variables)]
    for row in rows[:limit]:
        lines.append("    " + " | ".join("-" if t is None else str(t) for t in row))
    if len(rows) > limit:
        lines.append(f"    ... ({len(rows)} rows)")
    return "\n".join(lines)


def _by_value(rows: list[tuple[Term | None, ...]]) -> list[tuple[Term | None, ...]]:
    return [tuple(canonical(t) for t in row) for row in rows]  # type: ignore[misc]


def compare_solutions(
    expected: Solutions, actual: Solutions, *, ordered: bool, lax: bool = False,
    values: bool = False,
) -> str | None:
    """``None`` when equal, else a short description of the difference.

    ``ordered``: compare sequences (the query has ORDER BY and the expected
    result gives an order). ``lax``: REDUCED may drop any duplicates, so compare
    as sets. ``values``: literals of the same datatype are equal when their values are.
    """
    if set(expected.variables) != set(actual.variables):
        return (f"variables differ: expected {sorted(expected.variables)}, "
                f"got {sorted(actual.variables)}")
    variables = sorted(expected.variables)
    exp_rows = expected.project(variables)
    act_rows = actual.project(variables)
    if values:
        exp_rows, act_rows = _by_value(exp_rows), _by_value(act_rows)
    if lax:
        # Duplicates may or may not be removed: compare the distinct rows of both.
        exp_set = _canonical(_encode_rows(variables, _distinct(exp_rows), False))
        act_set = _canonical(_encode_rows(variables, _distinct(act_rows), False))
        equal = exp_set == act_set and len(_distinct(exp_rows)) <= len(act_rows) <= len(exp_rows)
    else:
        equal = _canonical(_encode_rows(variables, exp_rows, ordered)) == _canonical(
            _encode_rows(variables, act_rows, ordered)
        )
    if equal:
        return None
    how = "sequences" if ordered else "multisets"
    return (f"solution {how} differ ({len(exp_rows)} expected, {len(act_rows)} actual)\n"
            f"  expected:\n{_show_rows(variables, exp_rows)}\n"
            f"  actual:\n{_show_rows(variables, act_rows)}")


def _distinct(rows: Sequence[tuple]) -> list[tuple]:
    seen: list[tuple] = []
    for row in rows:
        if row not in seen:
            seen.append(row)
    return seen


def _quads_by_value(quads: Iterable[Quad]) -> list[Quad]:
    return [Quad(q.subject, q.predicate, canonical(q.object), q.graph_name)  # type: ignore[arg-type]
            for q in quads]


def compare_datasets(expected: Iterable[Quad], actual: Iterable[Quad], *,
                     values: bool = False) -> str | None:
    """``None`` when the datasets are isomorphic, else the differing quads (``values``:
    literals compared by value, see :func:`compare_solutions`)."""
    if values:
        expected, actual = _quads_by_value(expected), _quads_by_value(actual)
    exp = _canonical(expected)
    act = _canonical(actual)
    if exp == act:
        return None
    exp_set = {str(q) for q in exp}
    act_set = {str(q) for q in act}
    missing = sorted(exp_set - act_set)
    extra = sorted(act_set - exp_set)
    out = [f"datasets differ ({len(exp)} expected quads, {len(act)} actual)"]
    if missing:
        out.append("  missing (canonical labels):\n" + "\n".join("    " + m for m in missing[:10]))
    if extra:
        out.append("  unexpected (canonical labels):\n" + "\n".join("    " + e for e in extra[:10]))
    return "\n".join(out)


def compare_graphs(expected: Iterable[Triple], actual: Iterable[Triple], *,
                   values: bool = False) -> str | None:
    """:func:`compare_datasets` for two graphs."""
    graph = DefaultGraph()
    return compare_datasets(
        (Quad(t.subject, t.predicate, t.object, graph) for t in expected),
        (Quad(t.subject, t.predicate, t.object, graph) for t in actual),
        values=values,
    )


def _csv_cell(cell: str) -> Term | None:
    if cell.startswith("_:"):
        try:
            return BlankNode(cell[2:])
        except ValueError:
            return Literal(cell)
    return Literal(cell)


def compare_tables(expected: Table, actual: Table, *, ordered: bool) -> str | None:
    """CSV answers, compared cell by cell as strings (blank node labels up to renaming)."""
    if sorted(expected.header) != sorted(actual.header):
        return f"CSV headers differ: expected {expected.header}, got {actual.header}"
    variables = sorted(expected.header)

    def rows(table: Table) -> list[tuple]:
        pos = [table.header.index(v) for v in variables]
        out = []
        for row in table.rows:
            padded = row + [""] * (len(table.header) - len(row))
            out.append(tuple(_csv_cell(padded[i]) for i in pos))
        return out

    exp_rows, act_rows = rows(expected), rows(actual)
    if _canonical(_encode_rows(variables, exp_rows, ordered)) == _canonical(
        _encode_rows(variables, act_rows, ordered)
    ):
        return None
    return (f"CSV rows differ ({len(exp_rows)} expected, {len(act_rows)} actual)\n"
            f"  expected:\n{_show_rows(variables, exp_rows)}\n"
            f"  actual:\n{_show_rows(variables, act_rows)}")
