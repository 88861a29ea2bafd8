"""Which queries are provably cheap: answered in the HTTP worker, not in a query process.

A query process (``kgraph.store.pool``) exists so that a query can be stopped at the time
limit: pyoxigraph cannot interrupt one. For a query whose work is bounded, the hop to that
process and back costs more than the engine does; such a query may be answered in the
worker itself. This module decides, on the query's **algebra** (rdflib's parse, never a
pattern in its text), whether the work is bounded, in two kinds:

* **streaming**: one triple pattern with at least one constant, under at most a
  projection and a ``LIMIT`` (SELECT) or as an ``ASK``: no FILTER, ORDER BY, DISTINCT,
  OFFSET or aggregate. The engine produces such an answer lazily - every solution is one
  step of an index scan, and its writer hands the answer out every ~8 KiB - so the worker
  bounds the work itself while the answer is written (``STREAM_BUDGET_S``, a byte cap)
  and gives the query to a query process when a bound is passed (nothing has been sent
  to the client then). An ``ASK`` of one pattern is one index seek.
* **counted**: a basic graph pattern (several triple patterns, no property path) under
  FILTER (without EXISTS), BIND, projection, DISTINCT, ORDER BY, LIMIT/OFFSET. Each
  triple pattern's matches, with its constants and nothing else bound, are counted in the
  worker's snapshot by the engine (capped: one query of ``SELECT (COUNT(*) ...) { SELECT *
  { pattern } LIMIT cap }`` per pattern, all in one request, so the count itself reads at
  most ``cap`` index entries per pattern); the product of the counts bounds every join
  order and algorithm the engine may choose, and it must be at most ``MAX_JOIN``.

Anything else - property paths, subqueries, SERVICE, GRAPH, OPTIONAL, UNION, MINUS,
VALUES, EXISTS, aggregates, FROM, CONSTRUCT/DESCRIBE, a relative IRI, a parse error - is
not cheap and goes to a query process.

rdflib's parser costs milliseconds and is not thread-safe, so a query's *shape* is parsed
once, under a lock, and cached: the shape is the query's token sequence (kgraph.lexer)
with every absolute IRI outside the prologue replaced by a placeholder IRI, and with the
places where whitespace or comments separate tokens. Two queries with the same shape have
the same parse up to those IRIs (the SPARQL grammar treats every ``IRIREF`` token alike),
so the placeholders in the cached algebra are replaced by the request's own IRIs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode

from ..lexer import tokenize

#: Most rows of the worst-case join (product of the patterns' counts) of a counted query.
#: Counting reads up to this many index entries per pattern, so it stays small.
MAX_JOIN = 256
#: Seconds a streaming answer may take in the worker before it goes to a query process.
STREAM_BUDGET_S = 0.05
#: Bytes a streaming (or counted) answer may have in the worker (it is held in memory).
STREAM_MAX_BYTES = 1 << 18
#: Shapes remembered (a few kinds of query, each repeated with other constants).
MAX_SHAPES = 512
#: Pattern counts remembered per snapshot version.
MAX_COUNTS = 4096
#: Longest query text looked at (a longer one is not cheap).
MAX_TEXT = 8192

_PLACEHOLDER = "urn:x-kgraph-cost:"
_STREAMING_NODES = frozenset({"Project", "Slice", "BGP"})
_COUNTED_NODES = frozenset({"Project", "Slice", "Filter", "Extend", "Distinct", "Reduced",
                            "OrderBy", "Join", "BGP"})


@dataclass(frozen=True)
class Term:
    """A position of a triple pattern: a variable (``var`` is its name), a constant
    (``value``, a pyoxigraph term), or the request's ``param``-th IRI."""

    var: str | None = None
    value: Any = None
    param: int | None = None


@dataclass(frozen=True)
class Shape:
    """What a query shape's parse proved: its triple patterns and which kind it is."""

    patterns: tuple[tuple[Term, Term, Term], ...]
    streaming: bool


@dataclass(frozen=True)
class Plan:
    """A cheap query's triple patterns with this request's constants: ``None`` for a
    variable, else a pyoxigraph term; ``streaming`` as in :class:`Shape`."""

    patterns: tuple[tuple[Any, Any, Any], ...]
    streaming: bool


def _absolute(iri: str) -> bool:
    head, sep, _ = iri.partition(":")
    return bool(sep) and head[:1].isalpha() and all(c.isalnum() or c in "+-." for c in head)


def shape_key(text: str) -> tuple[tuple[Any, ...], list[str], str] | None:
    """``(key, iris, parse_text)``: the query's shape, the IRIs taken out of it (in order),
    and the text with placeholders (what is parsed once per shape); ``None`` when the
    query has a relative IRI or cannot be tokenized."""
    key: list[Any] = []
    iris: list[str] = []
    pieces: list[str] = []
    last = 0
    prev_end = 0
    prev: Any = None
    prev2: Any = None
    try:
        for tok in tokenize(text):
            gap = tok.start != prev_end
            prev_end = tok.end
            if tok.kind == "iri":
                iri = tok.text[1:-1]
                in_prologue = (prev is not None and prev.kind == "word"
                               and prev.text.upper() == "BASE") or (
                    prev is not None and prev.kind == "pname" and prev2 is not None
                    and prev2.kind == "word" and prev2.text.upper() == "PREFIX")
                if not _absolute(iri):
                    return None
                if not in_prologue:
                    iris.append(iri)
                    pieces.append(text[last:tok.start])
                    pieces.append(f"<{_PLACEHOLDER}{len(iris) - 1}>")
                    last = tok.end
                    key.append(("iri", gap))
                    prev2, prev = prev, tok
                    continue
            key.append((tok.kind, tok.text, gap))
            prev2, prev = prev, tok
    except ValueError:
        return None
    pieces.append(text[last:])
    return tuple(key), iris, "".join(pieces)


class CostModel:
    """Decides, with a cache of parsed shapes, whether a query is cheap (see the module
    docstring); thread-safe."""

    def __init__(self, max_join: int = MAX_JOIN) -> None:
        self.max_join = max_join
        self._shapes: OrderedDict[tuple[Any, ...], Shape | None] = OrderedDict()
        self._lock = threading.Lock()  # rdflib's parser is not thread-safe
        self._parse_lock = threading.Lock()
        #: Pattern counts (capped), for one snapshot version.
        self._counts_version: int | None = None
        self._counts: dict[tuple[Any, Any, Any], int] = {}

    def plan(self, text: str) -> Plan | None:
        """This request's patterns if its shape is cheap, else ``None``."""
        if len(text) > MAX_TEXT:
            return None
        found = shape_key(text)
        if found is None:
            return None
        key, iris, parse_text = found
        with self._lock:
            known = key in self._shapes
            shape = self._shapes.get(key)
            if known:
                self._shapes.move_to_end(key)
        if not known:
            shape = self._analyse(parse_text)
            with self._lock:
                self._shapes[key] = shape
                while len(self._shapes) > MAX_SHAPES:
                    self._shapes.popitem(last=False)
        if shape is None:
            return None
        patterns = tuple(tuple(_bind(t, iris) for t in pattern) for pattern in shape.patterns)
        return Plan(patterns, shape.streaming)  # type: ignore[arg-type]

    def _analyse(self, parse_text: str) -> Shape | None:
        with self._parse_lock:
            try:
                from rdflib.plugins.sparql.algebra import translateQuery
                from rdflib.plugins.sparql.parser import parseQuery

                query = translateQuery(parseQuery(parse_text))
            except Exception:  # noqa: BLE001 - not parsed here: the engine decides (elsewhere)
                return None
        return analyse(query.algebra)

    def bounded(self, plan: Plan, count: Any, version: int | None = None) -> bool:
        """Whether a plan's work is bounded: a streaming one always is (the worker bounds
        it while writing); a counted one when every pattern has at most ``max_join``
        matches and so has their product (which bounds any join order and algorithm,
        hash joins included). ``count(patterns, cap)`` gives each pattern's matches,
        counted up to ``cap``; with ``version``, counts are remembered for that snapshot
        version (a pattern such as ``?t rdfs:label ?l`` recurs in every query of a shape)."""
        if plan.streaming:
            return True
        known: dict[int, int] = {}
        if version is not None:
            with self._lock:
                if self._counts_version != version:
                    self._counts_version, self._counts = version, {}
                for i, pattern in enumerate(plan.patterns):
                    n = self._counts.get(pattern)
                    if n is not None:
                        known[i] = n
        if any(n > self.max_join for n in known.values()):
            return False
        todo = [i for i in range(len(plan.patterns)) if i not in known]
        if todo:
            counted = count([plan.patterns[i] for i in todo], self.max_join + 1)
            known.update(zip(todo, counted, strict=True))
            if version is not None:
                with self._lock:
                    if self._counts_version == version:
                        if len(self._counts) >= MAX_COUNTS:
                            self._counts.clear()
                        for i in todo:
                            self._counts[plan.patterns[i]] = known[i]
        product = 1
        for n in known.values():
            if n > self.max_join:
                return False
            product *= n
        return product <= self.max_join


def _bind(term: Term, iris: list[str]) -> Any:
    if term.param is not None:
        return NamedNode(iris[term.param])
    return term.value


def analyse(algebra: Any) -> Shape | None:
    """The shape of a parsed query (rdflib algebra), or ``None`` if it is not cheap."""
    from rdflib.plugins.sparql.parserutils import CompValue

    if not isinstance(algebra, CompValue) or algebra.name not in ("SelectQuery", "AskQuery"):
        return None
    if algebra.get("datasetClause"):
        return None
    nodes: list[str] = []
    patterns: list[tuple[Term, Term, Term]] = []
    offset = False

    def walk(node: Any) -> bool:
        nonlocal offset
        if not isinstance(node, CompValue):
            return True
        nodes.append(node.name)
        if node.name not in _COUNTED_NODES:
            return False
        if node.name == "BGP":
            for triple in node.get("triples") or []:
                converted = tuple(_term(t) for t in triple)
                if any(t is None for t in converted):
                    return False
                patterns.append(converted)  # type: ignore[arg-type]
            return True
        if node.name == "Slice" and node.get("start"):
            offset = True
        for name in ("expr", "other"):
            if name in node and not _plain_expression(node[name]):
                return False
        return all(walk(node[k]) for k in ("p", "p1", "p2") if k in node)

    if not walk(algebra["p"]) or not patterns:
        return None
    streaming = (len(patterns) == 1 and set(nodes) <= _STREAMING_NODES and not offset
                 and any(t.var is None for t in patterns[0]))
    return Shape(tuple(patterns), streaming)


def _plain_expression(expr: Any) -> bool:
    """An expression that reads no graph pattern (no EXISTS / NOT EXISTS)."""
    from rdflib.plugins.sparql.parserutils import CompValue

    if isinstance(expr, CompValue):
        if "EXISTS" in expr.name.upper() or expr.name in ("GroupGraphPatternSub", "BGP"):
            return False
        return all(_plain_expression(v) for k, v in expr.items() if k != "_vars")
    if isinstance(expr, list | tuple):
        return all(_plain_expression(v) for v in expr)
    return True


def _term(term: Any) -> Term | None:
    from rdflib import BNode, URIRef, Variable
    from rdflib import Literal as RdfLiteral

    if isinstance(term, Variable):
        return Term(var=str(term))
    if isinstance(term, BNode):  # a blank node in a pattern is a variable
        return Term(var="_b" + str(term))
    if isinstance(term, URIRef):
        iri = str(term)
        if iri.startswith(_PLACEHOLDER):
            return Term(param=int(iri[len(_PLACEHOLDER):]))
        return Term(value=NamedNode(iri))
    if isinstance(term, RdfLiteral):
        if term.language:
            return Term(value=Literal(str(term), language=term.language))
        if term.datatype is not None:
            return Term(value=Literal(str(term), datatype=NamedNode(str(term.datatype))))
        return Term(value=Literal(str(term)))
    return None  # a property path, a quoted triple, ...


def count_query(patterns: Iterable[tuple[Any, Any, Any]], cap: int) -> str:
    """One SPARQL query that counts each pattern's matches, at most ``cap`` each (the
    engine reads at most ``cap`` index entries per pattern: ``LIMIT`` inside)."""
    parts = []
    for i, pattern in enumerate(patterns):
        terms = " ".join(f"?v{i}_{j}" if t is None else _sparql_term(t)
                         for j, t in enumerate(pattern))
        parts.append(f"{{ SELECT (COUNT(*) AS ?c{i}) {{ SELECT * {{ {terms} }} LIMIT {cap} }} }}")
    return "SELECT * { " + " ".join(parts) + " }"


def _sparql_term(term: Any) -> str:
    if isinstance(term, NamedNode | Literal):
        return str(term)  # N-Triples syntax, which SPARQL reads
    if isinstance(term, BlankNode):  # pragma: no cover - blank nodes are variables here
        raise ValueError("blank node constant")
    raise ValueError(f"unexpected term {term!r}")
