"""``/queries``: the project's named queries (``queries/NAME.rq``), run by name.

Each file's leading ``#`` comment lines are its description. A named query
runs exactly like a query sent to ``/sparql``: same content negotiation,
same ``inference`` switch, same dataset parameters.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from ..sparql.protocol import ProtocolError, QueryOperation, is_absolute_iri
from .responses import answer_query

bp = Blueprint("named_queries", __name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def query_files(folder: Path) -> dict[str, Path]:
    """Named queries in ``folder``, by name."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.rq")) if _NAME.match(p.stem)}


def description(text: str) -> str:
    """The leading comment block of a query file, as one paragraph."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    return " ".join(x for x in lines if x)


@bp.get("/queries")
def list_queries() -> Response:
    kg = current_app.extensions["kgraph"]
    items = []
    for name, path in query_files(kg.settings.queries_dir).items():
        text = path.read_text(encoding="utf-8")
        items.append({
            "name": name,
            "description": description(text),
            "url": url_for("named_queries.run_query", name=name, _external=True),
            "query": text,
        })
    return jsonify(queries=items)


@bp.route("/queries/<name>", methods=["GET", "HEAD"])
def run_query(name: str) -> Response:
    kg = current_app.extensions["kgraph"]
    path = query_files(kg.settings.queries_dir).get(name)
    if path is None:
        raise ProtocolError(404, f"no named query {name!r}; see /queries")
    value = request.args.get("inference", "true").lower()
    if value not in _TRUE + _FALSE:
        raise ProtocolError(400, f"'inference' must be true or false, got {value[:50]!r}")
    inference = value in _TRUE
    for key in ("default-graph-uri", "named-graph-uri"):
        for iri in request.args.getlist(key):
            if not is_absolute_iri(iri):
                raise ProtocolError(400, f"'{key}' must be an absolute IRI, got {iri!r}")
    op = QueryOperation(
        path.read_text(encoding="utf-8"),
        tuple(request.args.getlist("default-graph-uri")),
        tuple(request.args.getlist("named-graph-uri")),
        inference,
    )
    return answer_query(kg, op)
