"""Check compiled quads against the ontology's vocabulary and the SHACL shapes.

Two layers: :func:`check_vocabulary` works on the facts file and can name the
YAML line of a misspelt ``kgo:`` term or a literal given to an object
property; :func:`validate` runs pyshacl over the compiled RDF (with the
ontology mixed in, so ``sh:targetClass`` reaches instances of subclasses).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import rdflib
import rdflib.collection
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, Triple, serialize
from rdflib.namespace import OWL, RDF, RDFS, SH

from .. import resources
from ..loader import ontology_files as served_ontology_files
from ..namespaces import KGO, PREFIXES
from .facts import FactsFile, FactsProblem
from .terms import XSD, shorten

#: The served ontology and its shapes (kgraph.resources: the package's, or KGRAPH_DATA_DIR's).
DEFAULT_ONTOLOGY_DIR = resources.ontology_dir()
DEFAULT_SHAPES = resources.shapes_path()

OntologySource = Path | Sequence[Path] | rdflib.Graph | None

_INTEGER_TYPES = {XSD + t for t in ("integer", "int", "long", "nonNegativeInteger",
                                    "positiveInteger")}


@dataclass(frozen=True)
class Violation:
    """One SHACL validation result, in words."""

    focus: str
    path: str | None
    value: str | None
    message: str
    severity: str
    shape: str | None = None
    #: The result path as an IRI and the value in N-Triples form, to find the statement.
    path_iri: str | None = None
    value_nt: str | None = None

    def __str__(self) -> str:
        focus = shorten(self.focus, PREFIXES)
        where = f"{focus} {self.path}" if self.path else focus
        value = f" (value: {self.value})" if self.value not in (None, focus) else ""
        return f"{self.severity}: {where}: {self.message}{value}"

    @property
    def is_violation(self) -> bool:
        return self.severity == "Violation"


def ontology_files(ontology: Path) -> list[Path]:
    """The ontology's files: ``ontology`` itself, or the files of that folder that the
    server loads into the ontology graph (the shapes are not part of it)."""
    return [ontology] if ontology.is_file() else served_ontology_files(ontology)


@functools.lru_cache(maxsize=16)
def _parse_cached(key: tuple[tuple[str, int], ...]) -> rdflib.Graph:
    graph = rdflib.Graph()
    for name, _mtime in key:
        graph.parse(name, format="turtle")
    return graph


def load_turtle(paths: Iterable[Path]) -> rdflib.Graph:
    """Parse Turtle files into one graph, cached while the files are unchanged.

    The returned graph is shared: callers must not modify it.
    """
    key = tuple((str(p.resolve()), p.stat().st_mtime_ns) for p in paths)
    return _parse_cached(key)


def ontology_graph(ontology: OntologySource) -> rdflib.Graph | None:
    """The ontology as an rdflib graph, or ``None`` when there is none yet."""
    if ontology is None:
        return None
    if isinstance(ontology, rdflib.Graph):
        return ontology
    files = ontology_files(ontology) if isinstance(ontology, Path) else list(ontology)
    if not files:
        return None
    return load_turtle(files)


def to_rdflib(quads: Iterable[Quad]) -> rdflib.Graph:
    """The triples of ``quads`` (graph names dropped) as an rdflib graph."""
    data = serialize([Triple(q.subject, q.predicate, q.object) for q in quads],
                     format=RdfFormat.N_TRIPLES) or b""
    graph = rdflib.Graph()
    graph.parse(data=data.decode("utf-8"), format="nt")
    return graph


def validate(
    quads: Iterable[Quad],
    shapes: Path | None = DEFAULT_SHAPES,
    ontology: OntologySource = DEFAULT_ONTOLOGY_DIR,
) -> list[Violation]:
    """Validate ``quads`` against the SHACL ``shapes``; every result, violations first.

    The ontology is mixed into the data graph (pyshacl's ``ont_graph``) so that
    class targets follow ``rdfs:subClassOf``; no other inference is run, so a
    shape sees what the facts file says, not what a reasoner might add.
    """
    import pyshacl

    if shapes is None:
        return []
    if not Path(shapes).exists():
        raise FileNotFoundError(f"SHACL shapes not found: {shapes} (pass shapes=None to skip)")
    data = to_rdflib(quads)
    shacl = load_turtle([Path(shapes)])
    ont = ontology_graph(ontology)
    _conforms, results, _text = pyshacl.validate(
        data, shacl_graph=shacl, ont_graph=ont, inference="none", abort_on_first=False,
        allow_warnings=True, meta_shacl=False, advanced=True,
    )
    out: list[Violation] = []
    details = set(results.objects(None, SH.detail))
    for result in results.subjects(RDF.type, SH.ValidationResult):
        if result in details:
            continue  # reported through the result that wraps it (a failed sh:node)

        def one(pred: rdflib.URIRef, result: rdflib.term.Node = result) -> rdflib.term.Node | None:
            return results.value(result, pred)

        severity = one(SH.resultSeverity)
        path = one(SH.resultPath)
        value = one(SH.value)
        messages = sorted({str(m) for d in results.objects(result, SH.detail)
                           for m in results.objects(d, SH.resultMessage)}) or \
            sorted(str(m) for m in results.objects(result, SH.resultMessage))
        component = one(SH.sourceConstraintComponent)
        shape = one(SH.sourceShape)
        out.append(Violation(
            focus=str(one(SH.focusNode)),
            path=_show_path(results, path) if path is not None else None,
            value=_show(value) if value is not None else None,
            message="; ".join(messages) or (_show(component) if component else "violation"),
            severity=str(severity).rsplit("#", 1)[-1] if severity else "Violation",
            shape=_show(shape) if isinstance(shape, rdflib.URIRef) else None,
            path_iri=str(path) if isinstance(path, rdflib.URIRef) else None,
            value_nt=value.n3() if isinstance(value, rdflib.URIRef | rdflib.Literal) else None,
        ))
    out.sort(key=lambda v: (not v.is_violation, v.focus, v.path or "", v.message, v.value or ""))
    return out


def _show_path(graph: rdflib.Graph, path: rdflib.term.Node) -> str:
    """A SHACL property path in SPARQL syntax (``kgo:hasParty|^kgo:partyTo``)."""
    if isinstance(path, rdflib.URIRef):
        return _show(path)
    inverse = graph.value(path, SH.inversePath)
    if inverse is not None:
        return "^" + _show_path(graph, inverse)
    alternatives = graph.value(path, SH.alternativePath)
    if alternatives is not None:
        items = list(rdflib.collection.Collection(graph, alternatives))
        return "(" + "|".join(_show_path(graph, i) for i in items) + ")"
    if (path, RDF.first, None) in graph:
        return "/".join(_show_path(graph, i) for i in rdflib.collection.Collection(graph, path))
    return "[path]"


def _show(node: rdflib.term.Node) -> str:
    if isinstance(node, rdflib.URIRef):
        return shorten(str(node), PREFIXES)
    if isinstance(node, rdflib.Literal):
        return node.n3()
    return "[]"


def check_vocabulary(facts: FactsFile, ontology: OntologySource = DEFAULT_ONTOLOGY_DIR
                     ) -> list[FactsProblem]:
    """Problems with the ``kgo:`` terms a facts file uses, each at its YAML line.

    Catches what SHACL cannot point at: a misspelt class or property, a literal
    given to an object property (or a resource to a datatype property), and a
    literal whose datatype contradicts a property's declared ``xsd`` range.
    """
    graph = ontology_graph(ontology)
    if graph is None:
        return []
    declared = {str(s) for s in graph.subjects(RDF.type, None) if str(s).startswith(KGO)}
    classes = {str(s) for t in (OWL.Class, RDFS.Class) for s in graph.subjects(RDF.type, t)}
    object_props = {str(s) for s in graph.subjects(RDF.type, OWL.ObjectProperty)}
    data_props = {str(s) for s in graph.subjects(RDF.type, OWL.DatatypeProperty)}
    problems: list[FactsProblem] = []
    path = str(facts.path)

    def problem(line: int, message: str) -> None:
        problems.append(FactsProblem(line, message, path))

    def known(iri: str, line: int, role: str) -> bool:
        if iri.startswith(KGO) and iri not in declared:
            import difflib

            close = difflib.get_close_matches(iri, sorted(declared), n=1, cutoff=0.75)
            hint = f"; did you mean {shorten(close[0], PREFIXES)}?" if close else ""
            problem(line, f"{role} {shorten(iri, PREFIXES)} is not declared in the ontology{hint}")
            return False
        return True

    for type_iri in facts.document.types:
        known(type_iri, facts.document.line, "document type")
    for statement in facts.statements():
        p, o, line = statement.predicate, statement.obj, statement.line
        if not known(p, line, "property"):
            continue
        if isinstance(o, NamedNode):
            role = "class" if p == str(RDF.type) else "object"
            if not known(o.value, line, role):
                continue
            if role == "class" and o.value.startswith(KGO) and o.value not in classes:
                problem(line, f"type {shorten(o.value, PREFIXES)} is not a class in the ontology")
            if p in data_props:
                problem(line, f"{shorten(p, PREFIXES)} is an owl:DatatypeProperty: give value: "
                        "(a literal), not o:")
        elif isinstance(o, Literal):
            if p in object_props:
                problem(line, f"{shorten(p, PREFIXES)} is an owl:ObjectProperty: give o: "
                        "(a resource), not value:")
                continue
            ranges = {str(r) for r in graph.objects(rdflib.URIRef(p), RDFS.range)}
            if len(ranges) == 1 and o.language is None:
                (rng,) = ranges
                dt = o.datatype.value
                compatible = dt == rng or (dt in _INTEGER_TYPES and rng in _INTEGER_TYPES)
                if rng.startswith(XSD) and not compatible:
                    problem(line, f"{shorten(p, PREFIXES)} has range {shorten(rng, PREFIXES)} but "
                            f"the value is typed {shorten(dt, PREFIXES)}")
    return problems
