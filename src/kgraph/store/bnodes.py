"""Blank-node identity in kgraph's writes: one rule, and how each engine is told.

**The rule.** A :class:`~pyoxigraph.BlankNode` handed to a store write
(``add_quads``, ``replace_graph``, ``load``) *is* the node with that label in that
store: writing the quads read from a graph back (a copy, a replacement, the
reasoner's inferred graph, which points at the ontology's class expressions) keeps
every link. Fresh nodes come from parsing, never from writing:
:func:`kgraph.rdf.parse_rdf` renames a document's labels apart (two documents that
both say ``_:b`` mean two nodes), and a new ``BlankNode()`` has a random 128-bit label.

SPARQL alone cannot say this: ``INSERT DATA`` mints a new node for every label (SPARQL
1.1 Update 3.1.1), and so do Graph Store writes on the engines measured
(``docs/store.md``, "Blank nodes"). So each route spells node identity its own way,
all from this module:

* the embedded store takes terms (``Store.extend`` keeps labels); a write that must be
  one SPARQL update to be atomic (``replace_graph``: clear and insert in one
  transaction) skolemizes its blank nodes into IRIs that name nothing else
  (RDF 1.1 Concepts 3.5, under :data:`GENID` plus a random per-write segment) and
  turns them back into the same blank nodes inside that same update
  (:func:`replace_update`);
* between processes (HTTP worker -> writer) quads travel as N-Quads whose labels are
  read back verbatim (no renaming), so the writer gets the very same terms;
* a remote engine is written to in its own notation for an existing blank node
  (:func:`engine_bnode_iri`: Virtuoso's ``nodeID://``). Oxigraph server has none (no
  write of any kind keeps a blank node there: measured); on such an engine only
  engine-side copies (``COPY``, ``INSERT ... WHERE``) keep them, and kgraph's own
  rewrites mint new nodes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable

from pyoxigraph import BlankNode, NamedNode, RdfFormat, Triple, serialize

#: Where kgraph's Skolem IRIs live (RDF 1.1 Concepts 3.5, ``.well-known/genid``).
GENID = "https://w3id.org/kgraph/.well-known/genid/"
#: The custom function that turns this write's Skolem IRIs back into blank nodes.
DESKOLEMIZE = NamedNode(GENID + "deskolemize")

Term = object


def has_blank_node(term: object) -> bool:
    """Whether a term (or a triple, or a quoted triple in it) holds a blank node."""
    if isinstance(term, BlankNode):
        return True
    if isinstance(term, Triple):
        return has_blank_node(term.subject) or has_blank_node(term.object)
    return False


class Skolemizer:
    """Blank nodes <-> Skolem IRIs for one write.

    The IRIs carry a random segment of their own, so an IRI already in the data that
    happens to start with :data:`GENID` is never mistaken for one of them:
    :meth:`deskolemize` maps back only IRIs under this write's :attr:`prefix`.
    """

    def __init__(self) -> None:
        self.prefix = f"{GENID}{secrets.token_hex(12)}/"
        self._cut = len(self.prefix)

    def text(self, term: Term) -> str:
        """``term`` in N-Triples / SPARQL syntax, its blank nodes skolemized."""
        if isinstance(term, BlankNode):
            return f"<{self.prefix}{term.value}>"
        if isinstance(term, Triple):
            return (f"<<( {self.text(term.subject)} {term.predicate} "
                    f"{self.text(term.object)} )>>")
        return str(term)

    def deskolemize(self, term: Term) -> Term:
        """The blank node a Skolem IRI of this write stands for; any other term as it is."""
        if isinstance(term, NamedNode):
            value = term.value
            return BlankNode(value[self._cut:]) if value.startswith(self.prefix) else term
        if isinstance(term, Triple):
            return Triple(self.deskolemize(term.subject), term.predicate,  # type: ignore[arg-type]
                          self.deskolemize(term.object))  # type: ignore[arg-type]
        return term


def replace_update(
    graph: str | None, triples: Iterable[Triple]
) -> tuple[str, dict[NamedNode, Callable[..., object]]]:
    """One SPARQL update that makes ``graph`` (``None``: the default graph) hold exactly
    ``triples``, blank nodes included as the very nodes they are, and the custom
    functions to run it with (``pyoxigraph.Store.update(text, custom_functions=...)``).

    Triples without blank nodes are ``INSERT DATA``; the others are ``VALUES`` tables
    of their skolemized form, turned back into blank nodes by :data:`DESKOLEMIZE` as
    they are inserted (called only where a blank node is). One update is one
    transaction: readers never see the graph half-replaced, and a failure leaves it
    as it was.
    """
    plain: list[Triple] = []
    #: rows by where the blank nodes are: (subject, object)
    rows: dict[tuple[bool, bool], list[str]] = {}
    sk = Skolemizer()
    for t in triples:
        in_s, in_o = has_blank_node(t.subject), has_blank_node(t.object)
        if not (in_s or in_o):
            plain.append(t)
            continue
        rows.setdefault((in_s, in_o), []).append(
            f"({sk.text(t.subject)} {t.predicate} {sk.text(t.object)})")
    target = "DEFAULT" if graph is None else f"GRAPH <{graph}>"
    ops = [f"CLEAR SILENT {target}"]
    if graph is not None:
        ops.append(f"CREATE SILENT GRAPH <{graph}>")

    def wrap(body: str) -> str:
        return body if graph is None else f"GRAPH <{graph}> {{\n{body}\n}}"

    if plain:
        ops.append("INSERT DATA {\n" + wrap(_ntriples(plain)) + "\n}")
    fn = f"<{DESKOLEMIZE.value}>"
    # (A join with a table of distinct nodes, to call the function once per node, made
    # Oxigraph evaluate a cross product: 100,000 triples took minutes instead of ~2 s.)
    for (in_s, in_o), lines in rows.items():
        s_var, o_var = ("?ks" if in_s else "?s"), ("?ko" if in_o else "?o")
        binds = (f"BIND({fn}(?ks) AS ?s) " if in_s else "") + \
                (f"BIND({fn}(?ko) AS ?o)" if in_o else "")
        ops.append("INSERT {\n" + wrap("?s ?p ?o") + "\n} WHERE {\n"
                   f"VALUES ({s_var} ?p {o_var}) {{\n" + "\n".join(lines) + f"\n}}\n{binds}\n}}")
    functions: dict[NamedNode, Callable[..., object]] = {DESKOLEMIZE: sk.deskolemize} \
        if rows else {}
    return " ;\n".join(ops), functions


def _ntriples(triples: list[Triple]) -> str:
    return (serialize(triples, format=RdfFormat.N_TRIPLES) or b"").decode("utf-8")


# -- remote engines --------------------------------------------------------------------
#: Virtuoso numbers its blank nodes from about 10^4 up; labels kgraph made itself are
#: placed at 2^61 + a 60-bit hash of the label, far above any count Virtuoso reaches and
#: below its limit (measured: ``nodeID://b`` + 2^62 - 1 and above are refused).
_VIRTUOSO_OWN = re.compile(r"b[0-9]{1,19}")
_VIRTUOSO_BASE = 1 << 61


def engine_bnode_iri(node: BlankNode, prefix: str) -> NamedNode:
    """The IRI an engine with labelled blank-node IRIs (Virtuoso: ``nodeID://``) reads as
    the blank node ``node``: the engine's own label when ``node`` came from it, else a
    label derived from kgraph's (a 60-bit BLAKE2b hash; two labels of kgraph's meet
    on one node with odds of about n^2 / 2^61 for n nodes)."""
    label = node.value
    if _VIRTUOSO_OWN.fullmatch(label) is None:
        digest = hashlib.blake2b(label.encode("utf-8"), digest_size=8).digest()
        label = f"b{_VIRTUOSO_BASE + (int.from_bytes(digest, 'big') >> 4)}"
    return NamedNode(prefix + label)
