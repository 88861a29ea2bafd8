"""kgraph: a knowledge-graph backend with a SPARQL 1.1 endpoint.

The package is split the way Oxigraph splits its server: :mod:`kgraph.store`
holds the engines behind one small interface (and the result writers),
:mod:`kgraph.sparql` the protocol logic (content negotiation, service
description, SERVICE policy), and :mod:`kgraph.web` the Flask app factory with
thin views. Below them, :mod:`kgraph.errors`, :mod:`kgraph.lexer`,
:mod:`kgraph.nesting` and :mod:`kgraph.rdf` are shared by every layer, and
:mod:`kgraph.resources` finds the files the package ships.
"""

__version__ = "0.1.0"
