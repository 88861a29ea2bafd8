"""Read the W3C SPARQL test manifests into plain test descriptions.

The manifests use relative IRIs (``<data01.ttl>``). They are parsed against the
suite's published location (``https://w3c.github.io/rdf-tests/sparql/...``), so
file IRIs, graph names and base IRIs are the same on every machine, and a file
IRI maps back to the local copy by prefix.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat, parse

#: Where the suite is published; every manifest is parsed as if it lived there.
SUITE_BASE = "https://w3c.github.io/rdf-tests/sparql/"

MF = "http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#"
QT = "http://www.w3.org/2001/sw/DataAccess/tests/test-query#"
UT = "http://www.w3.org/2009/sparql/tests/test-update#"
DAWGT = "http://www.w3.org/2001/sw/DataAccess/tests/test-dawg#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"

#: The roots the suite is read from (every sub-manifest is reached through mf:include).
ROOT_MANIFESTS = (
    "sparql11/manifest-all.ttl",
    "sparql10/manifest.ttl",
    "sparql10/extended-manifest-evaluation.ttl",
)

#: Areas another engineer runs (the reasoning work owns entailment regimes).
SKIPPED_AREAS = {"sparql11/entailment": "entailment regimes: run by the reasoning work"}

SYNTAX_KINDS = (
    "PositiveSyntaxTest",
    "NegativeSyntaxTest",
    "PositiveSyntaxTest11",
    "NegativeSyntaxTest11",
    "PositiveUpdateSyntaxTest11",
    "NegativeUpdateSyntaxTest11",
)
EVALUATION_KINDS = ("QueryEvaluationTest", "UpdateEvaluationTest")
FORMAT_KINDS = ("CSVResultFormatTest",)
KNOWN_KINDS = SYNTAX_KINDS + EVALUATION_KINDS + FORMAT_KINDS


def default_suite_dir(repo_root: Path | None = None) -> Path:
    """The test data: ``$KGRAPH_W3C_DIR``, else ``<repo>/../shared/w3c-sparql11``."""
    env = os.environ.get("KGRAPH_W3C_DIR")
    if env:
        return Path(env)
    root = repo_root or Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "w3c-sparql11"


@dataclass
class GraphFile:
    """An RDF file loaded into a graph: ``name`` ``None`` means the default graph."""

    file: str
    name: str | None = None


@dataclass
class ServiceData:
    """A remote endpoint a federated test calls, and the data it holds."""

    endpoint: str
    data: list[str]


@dataclass
class W3CTest:
    """One manifest entry, with every IRI made absolute."""

    iri: str
    kind: str
    area: str
    name: str
    approval: str | None = None
    #: The query or update (``.rq``/``.ru``) file IRI.
    operation: str | None = None
    data: list[GraphFile] = field(default_factory=list)
    service_data: list[ServiceData] = field(default_factory=list)
    #: Expected result file (query tests).
    result: str | None = None
    #: Expected dataset after an update.
    result_data: list[GraphFile] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    lax_cardinality: bool = False
    comment: str = ""

    @property
    def suite(self) -> str:
        return self.area.split("/", 1)[0]

    @property
    def is_syntax(self) -> bool:
        return self.kind in SYNTAX_KINDS


class Suite:
    """Maps between the suite's published IRIs and the local copy."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def iri(self, path: Path) -> str:
        return SUITE_BASE + path.resolve().relative_to(self.directory.resolve()).as_posix()

    def path(self, iri: str) -> Path:
        if not iri.startswith(SUITE_BASE):
            raise ValueError(f"not a file of the test suite: {iri}")
        return self.directory / iri[len(SUITE_BASE):]

    def is_local(self, iri: str) -> bool:
        return iri.startswith(SUITE_BASE) and self.path(iri).is_file()

    def read_text(self, iri: str) -> str:
        return self.path(iri).read_text(encoding="utf-8")

    def read_bytes(self, iri: str) -> bytes:
        return self.path(iri).read_bytes()

    def area_of(self, iri: str) -> str:
        """``sparql11/add`` for any file under that folder."""
        parts = iri[len(SUITE_BASE):].split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


class _Graph:
    """Just enough of a triple index to walk a manifest."""

    def __init__(self, triples: list) -> None:
        self.index: dict[object, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for t in triples:
            self.index[t.subject][t.predicate.value].append(t.object)

    def objects(self, s: object, p: str) -> list:
        return self.index.get(s, {}).get(p, [])

    def one(self, s: object, p: str) -> object | None:
        values = self.objects(s, p)
        return values[0] if values else None

    def list(self, head: object) -> list:
        items = []
        while head is not None and head != NamedNode(RDF + "nil"):
            first = self.one(head, RDF + "first")
            if first is None:
                break
            items.append(first)
            head = self.one(head, RDF + "rest")
        return items


def _value(term: object | None) -> str | None:
    return None if term is None else term.value  # type: ignore[attr-defined]


def load_tests(directory: Path, roots: tuple[str, ...] = ROOT_MANIFESTS) -> list[W3CTest]:
    """Every test reachable from the root manifests, in manifest order, each once."""
    suite = Suite(directory)
    tests: list[W3CTest] = []
    seen_tests: set[str] = set()
    seen_manifests: set[str] = set()
    pending = [suite.iri(directory / r) for r in roots if (directory / r).is_file()]
    while pending:
        manifest_iri = pending.pop(0)
        if manifest_iri in seen_manifests or not suite.is_local(manifest_iri):
            continue
        seen_manifests.add(manifest_iri)
        path = suite.path(manifest_iri)
        graph = _Graph(list(parse(path=str(path), format=RdfFormat.TURTLE, base_iri=manifest_iri)))
        # Some DAWG manifests are blank nodes (``[] a mf:Manifest``), not ``<>``.
        manifests = [NamedNode(manifest_iri)] + [
            s for s, po in graph.index.items()
            if NamedNode(MF + "Manifest") in po.get(RDF + "type", []) and s != NamedNode(manifest_iri)
        ]
        for me in manifests:
            for include in graph.list(graph.one(me, MF + "include")):
                pending.append(include.value)
            for entry in graph.list(graph.one(me, MF + "entries")):
                if isinstance(entry, NamedNode) and entry.value in seen_tests:
                    continue
                test = _read_entry(graph, entry, suite.area_of(manifest_iri))
                if test is not None:
                    seen_tests.add(test.iri)
                    tests.append(test)
    return tests


def _graph_files(graph: _Graph, node: object, data_p: str, graph_data_p: str) -> list[GraphFile]:
    files = [GraphFile(f.value) for f in graph.objects(node, data_p)]
    for gd in graph.objects(node, graph_data_p):
        if isinstance(gd, NamedNode):
            files.append(GraphFile(gd.value, gd.value))
        else:  # ut:graphData [ ut:graph <file> ; rdfs:label "name" ]
            file = graph.one(gd, UT + "graph")
            label = graph.one(gd, RDFS + "label")
            if file is not None:
                files.append(GraphFile(file.value, _value(label) or file.value))
    return files


def _read_entry(graph: _Graph, entry: object, area: str) -> W3CTest | None:
    kind_iri = _value(graph.one(entry, RDF + "type")) or ""
    kind = kind_iri.rsplit("#", 1)[-1]
    if isinstance(entry, BlankNode):  # untyped, unnamed entries cannot be reported
        return None
    test = W3CTest(
        iri=entry.value,  # type: ignore[attr-defined]
        kind=kind,
        area=area,
        name=_value(graph.one(entry, MF + "name")) or "",
        approval=(_value(graph.one(entry, DAWGT + "approval")) or "").rsplit("#", 1)[-1] or None,
        comment=_value(graph.one(entry, RDFS + "comment")) or "",
        requires=[_value(r) or "" for r in graph.objects(entry, MF + "requires")],
        lax_cardinality=graph.one(entry, MF + "resultCardinality") == NamedNode(MF + "LaxCardinality"),
    )
    action = graph.one(entry, MF + "action")
    if isinstance(action, NamedNode):
        test.operation = action.value
    elif action is not None:
        op = graph.one(action, QT + "query") or graph.one(action, UT + "request")
        test.operation = _value(op)
        if kind == "UpdateEvaluationTest":
            test.data = _graph_files(graph, action, UT + "data", UT + "graphData")
        else:
            test.data = _graph_files(graph, action, QT + "data", QT + "graphData")
        for sd in graph.objects(action, QT + "serviceData"):
            endpoint = graph.one(sd, QT + "endpoint")
            if endpoint is not None:
                test.service_data.append(
                    ServiceData(endpoint.value, [d.value for d in graph.objects(sd, QT + "data")])
                )
    result = graph.one(entry, MF + "result")
    if isinstance(result, NamedNode):
        test.result = result.value
    elif result is not None and not isinstance(result, Literal):
        test.result_data = _graph_files(graph, result, UT + "data", UT + "graphData")
    return test
