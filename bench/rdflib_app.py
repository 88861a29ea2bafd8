"""A naive SPARQL endpoint: Flask + rdflib on waitress threads, the benchmark's reference (c).

It is what one writes first: parse the data into an in-memory rdflib Dataset whose default
graph is the union of its graphs, answer ``GET /sparql?query=`` with rdflib's evaluator on
several threads. rdflib's SPARQL parser and evaluator are not thread-safe, so under
concurrent requests some fail: the benchmark counts those errors (non-2xx) instead of
hiding them, which is why no lock is taken here. ``python bench/rdflib_app.py DATA.nq PORT``;
prints ``listening`` when the data are loaded.
"""

from __future__ import annotations

import sys

import waitress
from flask import Flask, Response, request
from rdflib import Dataset


def main() -> None:
    data, port = sys.argv[1], int(sys.argv[2])
    ds = Dataset(default_union=True)
    ds.parse(data, format="nquads")
    app = Flask(__name__)

    @app.get("/sparql")
    def sparql() -> Response:
        try:
            result = ds.query(request.args["query"])
            body = result.serialize(format="json")
        except Exception as exc:  # noqa: BLE001 - the reference reports any failure as a 500
            # one line per failure, so the benchmark can say what failed (thread-safety)
            print(f"query failed: {type(exc).__name__}: {str(exc)[:160]!r}", file=sys.stderr,
                  flush=True)
            return Response(f"query failed: {type(exc).__name__}\n", status=500,
                            mimetype="text/plain")
        return Response(body, mimetype="application/sparql-results+json")

    @app.get("/health")
    def health() -> str:
        return "ok"

    print(f"listening on http://127.0.0.1:{port}/sparql", flush=True)
    waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)


if __name__ == "__main__":
    main()
