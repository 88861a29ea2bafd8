"""Bring a store up to date with the project's ontology and knowledge base.

Run at server start: whatever the store does not hold yet, or holds from
other versions of the input files, is (re)loaded, so a fresh ``--store``
directory serves the article's graph at once, an edited ontology or facts file
is served after a restart, and a store that is up to date starts without
reloading. Each step is one transaction, so an interrupted start never leaves
half a graph behind (the next start repeats it).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyoxigraph import Literal, NamedNode, Quad

from .config import Settings
from .loader import EXTENSIONS, ontology_files, parse_files
from .namespaces import (
    GRAPH,
    GRAPH_BOOTSTRAP,
    GRAPH_INFERRED,
    GRAPH_ONTOLOGY,
    GRAPH_WIKIDATA,
    KGO,
    source_graph,
)
from .resources import ResourceError, require_dir, require_file
from .store import Store

log = logging.getLogger("kgraph.bootstrap")


@dataclass
class BootstrapReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.loaded)


def check_resources(settings: Settings) -> None:
    """Raise :class:`~kgraph.resources.ResourceError` (naming the path) unless everything
    the server reads is where ``settings`` says: the ontology, its SHACL shapes and rules,
    the named queries and, when the store is bootstrapped, the facts files and (when SERVICE
    calls to Wikidata are answered from it) the snapshot. Run before anything starts, so a
    package installed without its data, or a ``KGRAPH_DATA_DIR`` that lacks a folder,
    refuses to serve an empty store."""
    if not ontology_files(require_dir(settings.ontology_dir, "the ontology")):
        raise ResourceError(f"the ontology not found: {settings.ontology_dir} holds no RDF file")
    require_file(settings.shapes_path, "the SHACL shapes")
    require_dir(settings.rules_dir, "the reasoning rules", ("*.rq",))
    require_dir(settings.queries_dir, "the named queries", ("*.rq",))
    if not settings.bootstrap:  # the store is loaded already; the rest is read at start only
        return
    require_dir(settings.data_dir / "facts", "the facts files", ("*.yaml",))
    if settings.wikidata == "snapshot":
        require_file(settings.data_dir / "wikidata" / "snapshot.ttl", "the Wikidata snapshot")


def digest(paths: list[Path]) -> str:
    """SHA-256 over the names and bytes of some input files (order-independent)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def recorded_digests(store: Store) -> dict[str, str]:
    """The input digest each graph was last loaded from, by graph IRI."""
    result = store.query(
        f"SELECT ?g ?d {{ GRAPH <{GRAPH_BOOTSTRAP}> {{ ?g <{KGO}sha256> ?d }} }}"
    )
    return {row[0].value: row[1].value for row in result.rows}  # type: ignore[union-attr]


def ensure_loaded(store: Store, settings: Settings) -> BootstrapReport:
    """Load the ontology, the facts files, extra RDF and the Wikidata snapshot into the
    graphs that lack them or were loaded from different files, then (re)materialise
    inferences when anything changed.

    Each graph's input digest is kept in the bootstrap graph, so editing the
    ontology or a facts file and restarting is enough to serve the new version.
    """
    check_resources(replace(settings, bootstrap=True))  # this is the bootstrap
    report = BootstrapReport()
    seen = recorded_digests(store)
    current: dict[str, str] = {}

    def stale(graph: str, inputs: list[Path]) -> bool:
        current[graph] = digest(inputs)
        if store.contains_graph(graph) and seen.get(graph) == current[graph]:
            report.skipped.append(graph)
            return False
        return True

    files = ontology_files(settings.ontology_dir)
    if files and stale(GRAPH_ONTOLOGY, files):
        quads = parse_files(files, GRAPH_ONTOLOGY, progress=False)
        store.replace_graph(GRAPH_ONTOLOGY, quads)
        report.loaded.append(f"ontology: {len(quads)} triples from {len(files)} files")

    facts_dir = settings.data_dir / "facts"
    if facts_dir.is_dir():
        from .ingest import ingest_path, load_facts

        for facts in sorted(facts_dir.glob("*.yaml")):
            spec = load_facts(facts, verify_quotes=False).document
            if stale(source_graph(spec.doc_id), [facts, spec.text_path]):
                ingest_path(store, facts, shapes=settings.shapes_path,
                            ontology=settings.ontology_dir)
                report.loaded.append(f"source {spec.doc_id}")

    # Plain RDF files dropped into data/ get a graph of their own, named after the file.
    for path in sorted(p for p in settings.data_dir.glob("*") if p.suffix in EXTENSIONS):
        graph = GRAPH + "data/" + path.name
        if stale(graph, [path]):
            quads = parse_files([path], graph, progress=False)
            store.replace_graph(graph, quads)
            report.loaded.append(f"{path.name}: {len(quads)} quads")

    snapshot_dir = settings.data_dir / "wikidata"
    inputs = sorted(p for p in snapshot_dir.glob("*") if p.suffix in (".ttl", ".json")) \
        if snapshot_dir.is_dir() else []
    if inputs and stale(GRAPH_WIKIDATA, inputs):
        from .linking.snapshot import load_wikidata

        n = load_wikidata(store, snapshot_dir)
        report.loaded.append(f"wikidata snapshot and links: {n} quads")

    if report.changed or not store.contains_graph(GRAPH_INFERRED):
        from .reasoning import materialize

        materialize(store)
        report.loaded.append("inferences")
    if report.changed:
        record = NamedNode(GRAPH_BOOTSTRAP)
        store.replace_graph(GRAPH_BOOTSTRAP, [
            Quad(NamedNode(g), NamedNode(KGO + "sha256"), Literal(d), record)
            for g, d in sorted(current.items())
        ])
    for item in report.loaded:
        log.info("loaded %s", item)
    return report
