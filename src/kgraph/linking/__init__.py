"""Linking the knowledge base to Wikidata, and the offline Wikidata snapshot.

* :mod:`.client` - polite SPARQL client (User-Agent, backoff, cache);
* :mod:`.kb` - the entities to link and their context;
* :mod:`.candidates` / :mod:`.scoring` / :mod:`.linker` - candidates, scores, decisions;
* :mod:`.links` - writing links with provenance into their own graph;
* :mod:`.snapshot` - building, refreshing and loading the snapshot.
"""

from kgraph.linking.links import GRAPH_LINKS
from kgraph.linking.snapshot import load_links, load_snapshot, load_wikidata

__all__ = ["GRAPH_LINKS", "load_links", "load_snapshot", "load_wikidata"]
