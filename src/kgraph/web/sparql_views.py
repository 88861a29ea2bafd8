"""``/sparql``: the SPARQL 1.1 Protocol endpoint (query, update, service description)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import MultiDict

from ..config import Settings
from ..sparql.conneg import accepts_html, negotiate
from ..sparql.protocol import (
    ALLOW,
    FORM,
    QUERY_TYPE,
    UPDATE_TYPE,
    QueryOperation,
    parse_request,
    require_utf8_params,
)
from ..sparql.service_description import SD_PREFIXES, describe
from ..store import results as fmt
from ..store.base import GraphResult
from .auth import require_write_access
from .limits import check_declared_length, check_text_size
from .responses import FAILED_KEY, answer_query, result_response
from .service_iri import query_base
from .ui import editor_response

bp = Blueprint("sparql", __name__)

#: Slack for the other parameters of a form around its query or update text.
FORM_SLACK = 64 * 1024


@bp.route("/sparql", methods=["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"])
def sparql() -> Response:
    kg = current_app.extensions["kgraph"]
    req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    method = req.method
    if method == "OPTIONS":
        return Response(status=204, headers={"Allow": ALLOW})
    failed = req.environ.pop(FAILED_KEY, None)
    if failed is not None:  # the WSGI fast path met this error: the app's handlers answer it
        raise failed
    settings = kg.settings
    mimetype = req.mimetype
    is_form = mimetype == FORM
    check_sizes(settings, method, mimetype, len(req.query_string), req.content_length)
    require_utf8_params(req.query_string, "query string")
    if is_form and method == "POST":
        require_utf8_params(req.get_data(cache=True), "form body")
    op = parse_request(
        method,
        mimetype,
        req.mimetype_params.get("charset"),
        req.args,
        req.form if is_form else MultiDict(),
        b"" if is_form or method in ("GET", "HEAD") else req.get_data(cache=False),
        base_iri=query_base(settings, req.environ),
    )
    if op is None:
        return _service_description()
    if isinstance(op, QueryOperation):
        return answer_query(kg, op, req)
    require_write_access(settings)
    check_text_size(op.update, settings, "update")
    with kg.writing():
        kg.endpoint.update(op)
    return Response(status=204)


def check_sizes(settings: Settings, method: str, mimetype: str, query_string: int,
                content_length: int | None) -> None:
    """413 for a query string or a POST body too long to hold a query or update of at most
    ``settings.max_query_bytes``, before either is read."""
    limit = settings.max_query_bytes
    if limit and query_string > 3 * limit + FORM_SLACK:
        check_declared_length(query_string, 3 * limit + FORM_SLACK, "query string")
    if method == "POST" and limit:
        # the body is (nearly) all query or update text: refuse a long one before reading it
        if mimetype == FORM:  # percent-encoding triples a byte at worst
            check_declared_length(content_length, 3 * limit + FORM_SLACK, "form body")
        elif mimetype in (QUERY_TYPE, UPDATE_TYPE):
            check_declared_length(content_length, limit, "request body")


def _service_description() -> Response:
    kg = current_app.extensions["kgraph"]
    accept = request.headers.get("Accept")
    if accepts_html(accept) and not request.values.get("format"):
        rdf_choice = negotiate(accept, [f.media_type for f in fmt.GRAPH_FORMATS] + ["text/html"])
        if rdf_choice == "text/html":
            return editor_response()
    triples = describe(request.base_url, kg.settings, kg.store)
    return result_response(GraphResult(iter(triples), SD_PREFIXES), None)
