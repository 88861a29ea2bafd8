"""Server start brings a store up to date: loads what is missing or changed, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from kgraph.bootstrap import ensure_loaded, recorded_digests
from kgraph.config import Settings
from kgraph.namespaces import (
    GRAPH_INFERRED,
    GRAPH_ONTOLOGY,
    GRAPH_WIKIDATA,
    KGO,
    source_graph,
)
from kgraph.store import open_store

#: The checkout these tests run from.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_bootstrap_loads_once_and_reloads_what_changed(tmp_path: Path) -> None:
    ontology = tmp_path / "ontology"
    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "ontology", ontology)
    shutil.copytree(PROJECT_ROOT / "data", data)
    settings = Settings(ontology_dir=ontology, data_dir=data, bootstrap=True)
    store = open_store(None)

    first = ensure_loaded(store, settings)
    article = source_graph("bandow-2021-07-10")
    for graph in (GRAPH_ONTOLOGY, article, GRAPH_WIKIDATA, GRAPH_INFERRED):
        assert store.contains_graph(graph), graph
    assert set(recorded_digests(store)) >= {GRAPH_ONTOLOGY, article, GRAPH_WIKIDATA}
    assert len(first.loaded) >= 4

    second = ensure_loaded(store, settings)
    assert not second.changed  # everything up to date: nothing reloaded, no re-reasoning

    # An edited ontology file is picked up on the next start; the article is not re-ingested.
    ttl = ontology / "kgraph.ttl"
    ttl.write_text(ttl.read_text(encoding="utf-8")
                   + f'\n<{KGO}State> <http://www.w3.org/2000/01/rdf-schema#comment> "edited" .\n',
                   encoding="utf-8")
    third = ensure_loaded(store, settings)
    assert third.loaded[0].startswith("ontology") and third.loaded[-1] == "inferences"
    assert not any(item.startswith("source") for item in third.loaded)
    assert store.query('ASK { ?s ?p "edited" }').value  # type: ignore[union-attr]
