"""Consistency and classification with HermiT (through owlready2).

HermiT is a complete OWL 2 DL reasoner: it finds contradictions and subclass
relations the OWL 2 RL rules cannot (e.g. through existential restrictions).
owlready2 ships it as a jar run on the machine's Java 17. (owlready2's bundled
Pellet needs a newer Java, so it is not used.)

HermiT accepts only the OWL 2 datatype map. ``xsd:date``, ``xsd:gYear`` and
``xsd:gYearMonth`` are not in it, and the knowledge base uses them for dates;
those literal assertions (and ranges naming those datatypes) are left out of
the check and counted in the result, so the check is of the rest of the data.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize

XSD = "http://www.w3.org/2001/XMLSchema#"
RDFS_RANGE = "http://www.w3.org/2000/01/rdf-schema#range"
#: OWL 2 datatype map (OWL 2 Structural Specification, section 4) plus rdf/rdfs ones.
OWL2_DATATYPES = {
    XSD + n
    for n in ["decimal", "integer", "nonNegativeInteger", "nonPositiveInteger", "positiveInteger", "negativeInteger", "long", "int", "short", "byte", "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "double", "float", "string", "normalizedString", "token", "language", "Name", "NCName", "NMTOKEN", "boolean", "hexBinary", "base64Binary", "anyURI", "dateTime", "dateTimeStamp"]
} | {
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#PlainLiteral",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#XMLLiteral",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString",
    "http://www.w3.org/2000/01/rdf-schema#Literal",
    "http://www.w3.org/2002/07/owl#real",
    "http://www.w3.org/2002/07/owl#rational",
}

_LOCK = threading.Lock()  # owlready2 keeps global state


@dataclass
class OwlCheck:
    """HermiT's verdict on a set of triples."""

    consistent: bool
    unsatisfiable: list[str] = field(default_factory=list)
    #: Named-class subsumptions HermiT found that were not asserted (sub, super).
    inferred_subclasses: list[tuple[str, str]] = field(default_factory=list)
    triples_checked: int = 0
    #: Literal assertions left out because HermiT does not support their datatype.
    skipped_literals: int = 0
    seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "consistent": self.consistent,
            "unsatisfiable": self.unsatisfiable,
            "inferred_subclasses": [list(x) for x in self.inferred_subclasses],
            "triples_checked": self.triples_checked,
            "skipped_literals": self.skipped_literals,
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


def _supported(q: Quad) -> bool:
    o = q.object
    if isinstance(o, Literal):
        return o.language is not None or o.datatype.value in OWL2_DATATYPES
    return not (
        q.predicate.value == RDFS_RANGE
        and isinstance(o, NamedNode)
        and o.value.startswith(XSD)
        and o.value not in OWL2_DATATYPES
    )


def check_with_hermit(quads: Iterable[Quad]) -> OwlCheck:
    """Run HermiT (consistency + classification) on the merged triples of ``quads``."""
    import owlready2

    t0 = time.perf_counter()
    kept: list[Quad] = []
    skipped = 0
    for q in quads:
        if _supported(q):
            kept.append(Quad(q.subject, q.predicate, q.object))
        else:
            skipped += 1
    with _LOCK, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kgraph.nt")
        with open(path, "wb") as fh:
            serialize(kept, fh, format=RdfFormat.N_QUADS)
        world = owlreadyworld = owlready2.World()
        onto = owlreadyworld.get_ontology("file://" + path).load(format="ntriples")
        before = {c.iri: {a.iri for a in c.ancestors() if hasattr(a, "iri")} for c in world.classes()}
        result = OwlCheck(True, triples_checked=len(kept), skipped_literals=skipped)
        try:
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
        except owlready2.OwlReadyInconsistentOntologyError as exc:
            result.consistent = False
            result.message = f"HermiT: the ontology and data are inconsistent ({exc})"
        except owlready2.OwlReadyJavaError as exc:
            result.consistent = False
            result.message = f"HermiT failed: {str(exc).strip()[-2000:]}"
            raise RuntimeError(result.message) from exc
        else:
            result.unsatisfiable = sorted(
                c.iri for c in world.inconsistent_classes() if hasattr(c, "iri")
                and c is not owlready2.Nothing
            )
            for c in world.classes():
                after = {a.iri for a in c.ancestors() if hasattr(a, "iri")}
                for sup in sorted(after - before.get(c.iri, set())):
                    if sup != c.iri:
                        result.inferred_subclasses.append((c.iri, sup))
            result.message = "consistent" + (
                f"; unsatisfiable classes: {', '.join(result.unsatisfiable)}"
                if result.unsatisfiable
                else ""
            )
        world.close()
    result.seconds = time.perf_counter() - t0
    return result
