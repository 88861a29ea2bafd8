"""kgraph: a knowledge-graph backend with a SPARQL 1.1 endpoint.

The package is split the way Oxigraph splits its server: :mod:`kgraph.store`
holds the engines behind one small interface, :mod:`kgraph.sparql` the
protocol logic (content negotiation, result formats, service description),
and :mod:`kgraph.web` the Flask app factory with thin views.
"""

__version__ = "0.1.0"
