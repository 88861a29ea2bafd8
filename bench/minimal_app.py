"""The smallest Flask + pyoxigraph SPARQL GET endpoint on waitress: a reference for bench/serving.py.

It does only what a trivial query needs (no content negotiation, errors, CORS, logging,
limits or federation), so the gap between it and kgraph is what kgraph's own request
handling costs. ``python bench/minimal_app.py STORE_DIR PORT``.
"""

from __future__ import annotations

import sys

import pyoxigraph as ox
import waitress
from flask import Flask, Response, request


def main() -> None:
    store = ox.Store(sys.argv[1])
    app = Flask(__name__)

    @app.get("/sparql")
    def sparql() -> Response:
        result = store.query(request.args["query"], use_default_graph_as_union=True)
        body = result.serialize(format=ox.QueryResultsFormat.JSON)  # type: ignore[union-attr]
        return Response(body, mimetype="application/sparql-results+json")

    @app.get("/health")
    def health() -> str:
        return "ok"

    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=8, _quiet=True)


if __name__ == "__main__":
    main()
