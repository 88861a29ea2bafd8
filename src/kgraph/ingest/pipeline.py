"""load -> verify -> compile -> validate -> replace: the only way facts enter the store.

Everything that can fail runs before the first write, and the write itself is
one atomic ``replace_graph``; so a rejected file, or a batch with one rejected
file, leaves the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import Quad, Triple

from ..namespaces import KGR
from ..store import open_store
from ..store.base import Store
from .compile import Compiled, compile_document, fact_iri, quote_iri
from .facts import FactsError, FactsFile, FactsProblem, load_facts
from .rules import check_rules
from .validate import (
    DEFAULT_ONTOLOGY_DIR,
    DEFAULT_SHAPES,
    OntologySource,
    Violation,
    check_vocabulary,
    validate,
)


@dataclass
class IngestReport:
    """What one ingest did (or, with ``dry_run``, would do)."""

    path: Path
    doc_id: str
    graph: str
    quads: int
    facts: int
    quotes: int
    resources: int
    previous_quads: int | None = None
    unchanged: bool = False
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would replace" if self.dry_run else "replaced"
        if self.previous_quads is None:
            verb = "would create" if self.dry_run else "created"
        elif self.unchanged:
            verb = "unchanged"
        before = f" (had {self.previous_quads})" if self.previous_quads is not None else ""
        return (f"{self.path}: {self.doc_id}: {self.quads} quads, {self.facts} facts, "
                f"{self.quotes} quotes, {self.resources} resources; {verb} <{self.graph}>{before}")


@dataclass
class Prepared:
    """A facts file that passed every check, with its compiled quads."""

    facts: FactsFile
    compiled: Compiled
    warnings: list[Violation]
    #: Annotation-rule problems (``kgraph.ingest.rules``), reported but not blocking.
    rule_problems: list[FactsProblem] = field(default_factory=list)


def _line_of(index: dict[str, int], violation: Violation) -> int | None:
    """The YAML line behind a SHACL result: the statement it is about, else its focus node."""
    if violation.path_iri and violation.value_nt:
        line = index.get(f"{violation.focus} {violation.path_iri} {violation.value_nt}")
        if line is not None:
            return line
    value = violation.value_nt[1:-1] if (violation.value_nt or "").startswith("<") else None
    if value in index and (violation.focus not in index or value.startswith(KGR + "fact/")
                           or value.startswith(KGR + "quote/")):
        return index[value]  # a whole-document check naming the offending fact or quote
    return index.get(violation.focus)


def _line_index(facts: FactsFile) -> dict[str, int]:
    """Which YAML line each minted IRI (and each statement) comes from."""
    doc_id = facts.document.doc_id
    index: dict[str, int] = {facts.document.iri: facts.document.line}
    for quote in facts.quotes():
        iri = quote_iri(doc_id, quote)
        index.setdefault(iri, quote.line)
        index.setdefault(iri + "#exact", quote.line)
        index.setdefault(iri + "#position", quote.line)
    for resource in facts.resources:
        index.setdefault(resource.iri, resource.line)
    for statement in facts.statements():
        index.setdefault(fact_iri(doc_id, statement.subject, statement.predicate, statement.obj),
                         statement.line)
        index.setdefault(f"{statement.subject} {statement.predicate} {statement.obj}",
                         statement.line)
    return index


def prepare(
    facts_path: str | Path,
    *,
    shapes: Path | None = DEFAULT_SHAPES,
    ontology: OntologySource = DEFAULT_ONTOLOGY_DIR,
) -> Prepared:
    """Run every check on a facts file and compile it; raise :class:`FactsError` if any fails."""
    facts = load_facts(facts_path)
    problems = check_vocabulary(facts, ontology)
    if problems:
        raise FactsError(problems)
    compiled = compile_document(facts)
    results = validate(compiled.quads, shapes, ontology)
    violations = [v for v in results if v.is_violation]
    if violations:
        index = _line_index(facts)
        raise FactsError([
            FactsProblem(_line_of(index, v), f"SHACL {v}", str(facts.path)) for v in violations
        ])
    return Prepared(facts, compiled, [v for v in results if not v.is_violation],
                    check_rules(facts, compiled.quads, ontology))


def ingest_paths(
    store: Store,
    facts_paths: Sequence[str | Path],
    *,
    shapes: Path | None = DEFAULT_SHAPES,
    ontology: OntologySource = DEFAULT_ONTOLOGY_DIR,
    dry_run: bool = False,
) -> list[IngestReport]:
    """Ingest several facts files: all are checked before any graph is written.

    Raises :class:`FactsError` with the problems of every rejected file (and
    writes nothing) when any file fails; two files for one document id are
    rejected too, since the second would silently replace the first.
    """
    prepared: list[Prepared] = []
    problems: list[FactsProblem] = []
    seen: dict[str, Path] = {}
    for path in facts_paths:
        try:
            item = prepare(path, shapes=shapes, ontology=ontology)
        except FactsError as exc:
            problems.extend(exc.errors)
            continue
        doc_id = item.facts.document.doc_id
        if doc_id in seen:
            problems.append(FactsProblem(item.facts.document.line, f"document id {doc_id!r} is "
                                         f"also used by {seen[doc_id]}", str(path)))
            continue
        seen[doc_id] = Path(path)
        prepared.append(item)
    if problems:
        raise FactsError(problems)
    return [_write(store, item, dry_run) for item in prepared]


def ingest_path(
    store: Store,
    facts_path: str | Path,
    *,
    shapes: Path | None = DEFAULT_SHAPES,
    ontology: OntologySource = DEFAULT_ONTOLOGY_DIR,
    dry_run: bool = False,
) -> IngestReport:
    """Check, compile and atomically replace one document's named graph."""
    return ingest_paths(store, [facts_path], shapes=shapes, ontology=ontology,
                        dry_run=dry_run)[0]


def _write(store: Store, item: Prepared, dry_run: bool) -> IngestReport:
    compiled, facts = item.compiled, item.facts
    report = IngestReport(
        path=facts.path, doc_id=facts.document.doc_id, graph=compiled.graph,
        quads=len(compiled.quads), facts=compiled.facts, quotes=compiled.quotes,
        resources=compiled.resources, dry_run=dry_run,
        warnings=[str(v) for v in item.warnings] + [str(p) for p in item.rule_problems],
    )
    if store.contains_graph(compiled.graph):
        current = list(store.triples(compiled.graph))
        report.previous_quads = len(current)
        report.unchanged = _canonical(current) == _canonical(compiled.quads)
    if not dry_run and not report.unchanged:
        store.replace_graph(compiled.graph, compiled.quads)
    return report


def _canonical(statements: Iterable[Quad | Triple]) -> set[Triple]:
    """The triples with literals in canonical form, to compare a file with a stored graph.

    Engines store literals canonically (Oxigraph turns ``"12"^^xsd:nonNegativeInteger``
    into ``"12"^^xsd:integer``; others have their own forms), so both sides are
    put through the same local in-memory store before comparing: the stored
    graph (as any engine returns it) and the compiler's output.
    """
    scratch = open_store(None)
    try:
        scratch.add_quads(Quad(t.subject, t.predicate, t.object) for t in statements)
        return set(scratch.triples(None))
    finally:
        scratch.close()


def find_facts_files(data_dir: str | Path) -> list[Path]:
    """The facts files of a data folder (``<data>/facts/*.yaml``), in a stable order."""
    folder = Path(data_dir) / "facts"
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def ingest_data_dir(store: Store, data_dir: str | Path, **kwargs: object) -> list[IngestReport]:
    """Ingest every facts file of a data folder (for bootstrapping a fresh store)."""
    paths: Iterable[Path] = find_facts_files(data_dir)
    return ingest_paths(store, list(paths), **kwargs)  # type: ignore[arg-type]
