"""Bring a store up to date with the project's ontology and knowledge base.

Run at server start: whatever the store does not hold yet is loaded, so a
fresh ``--store`` directory serves the article's graph at once, and a store
that already holds everything starts without reloading. Each step is one
transaction, so an interrupted start never leaves half a graph behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .loader import EXTENSIONS, load_files
from .namespaces import GRAPH, GRAPH_INFERRED, GRAPH_ONTOLOGY, GRAPH_WIKIDATA, source_graph
from .store import Store

log = logging.getLogger("kgraph.bootstrap")


@dataclass
class BootstrapReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.loaded)


def ontology_files(folder: Path) -> list[Path]:
    """The ontology's RDF files (SHACL shapes are validation input, not ontology)."""
    return sorted(p for p in folder.glob("*") if p.suffix in EXTENSIONS and p.stem != "shapes")


def ensure_loaded(store: Store, settings: Settings) -> BootstrapReport:
    """Load the ontology, the facts files, extra RDF and the Wikidata snapshot if missing,
    then (re)materialise inferences when anything changed."""
    report = BootstrapReport()

    if not store.contains_graph(GRAPH_ONTOLOGY):
        files = ontology_files(settings.ontology_dir)
        if files:
            n = load_files(store, files, GRAPH_ONTOLOGY, progress=False)
            report.loaded.append(f"ontology: {n} triples from {len(files)} files")
    else:
        report.skipped.append("ontology")

    facts_dir = settings.data_dir / "facts"
    if facts_dir.is_dir():
        from .ingest import ingest_path, load_facts

        for facts in sorted(facts_dir.glob("*.yaml")):
            doc_id = load_facts(facts).document.doc_id
            if store.contains_graph(source_graph(doc_id)):
                report.skipped.append(doc_id)
                continue
            ingest_path(store, facts)
            report.loaded.append(f"source {doc_id}")

    # Plain RDF files dropped into data/ get a graph of their own, named after the file.
    for path in sorted(p for p in settings.data_dir.glob("*") if p.suffix in EXTENSIONS):
        graph = GRAPH + "data/" + path.name
        if not store.contains_graph(graph):
            n = load_files(store, [path], graph, progress=False)
            report.loaded.append(f"{path.name}: {n} quads")

    snapshot_dir = settings.data_dir / "wikidata"
    if snapshot_dir.is_dir() and not store.contains_graph(GRAPH_WIKIDATA):
        from .linking.snapshot import load_wikidata

        n = load_wikidata(store, snapshot_dir)
        report.loaded.append(f"wikidata snapshot and links: {n} quads")

    if report.changed or not store.contains_graph(GRAPH_INFERRED):
        try:
            from .reasoning import materialize
        except ImportError:  # reasoning not installed in this build
            materialize = None
        if materialize is not None:
            materialize(store)
            report.loaded.append("inferences")
    for item in report.loaded:
        log.info("loaded %s", item)
    return report
