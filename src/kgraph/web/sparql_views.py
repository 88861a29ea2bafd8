"""``/sparql``: the SPARQL 1.1 Protocol endpoint (query, update, service description)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from ..sparql import results as fmt
from ..sparql.conneg import accepts_html, negotiate
from ..sparql.protocol import ALLOW, FORM, QueryOperation, parse_request, require_utf8_params
from ..sparql.service_description import SD_PREFIXES, describe
from ..store.base import GraphResult
from .auth import require_write_access
from .responses import result_response

bp = Blueprint("sparql", __name__)


@bp.route("/sparql", methods=["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"])
def sparql() -> Response:
    kg = current_app.extensions["kgraph"]
    if request.method == "OPTIONS":
        return Response(status=204, headers={"Allow": ALLOW})
    is_form = request.mimetype == FORM
    require_utf8_params(request.query_string, "query string")
    if is_form and request.method == "POST":
        require_utf8_params(request.get_data(cache=True), "form body")
    op = parse_request(
        request.method,
        request.mimetype,
        request.mimetype_params.get("charset"),
        request.args,
        request.form if is_form else MultiDict(),
        b"" if is_form or request.method in ("GET", "HEAD") else request.get_data(cache=False),
    )
    if op is None:
        return _service_description()
    if isinstance(op, QueryOperation):
        result = kg.endpoint.query(op)
        return result_response(result, kg.settings.query_timeout_s)
    require_write_access(kg.settings)
    kg.endpoint.update(op)
    return Response(status=204)


def _service_description() -> Response:
    kg = current_app.extensions["kgraph"]
    accept = request.headers.get("Accept")
    if accepts_html(accept) and not request.values.get("format"):
        rdf_choice = negotiate(accept, [f.media_type for f in fmt.GRAPH_FORMATS] + ["text/html"])
        if rdf_choice == "text/html":
            return Response(render_template("query_form.html"), mimetype="text/html")
    triples = describe(request.base_url, kg.settings, kg.store)
    return result_response(GraphResult(iter(triples), SD_PREFIXES), None)
