"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol (indirect identification).

``?graph=IRI`` names a graph and ``?default`` the store's own default graph;
with neither, GET returns the whole dataset and POST of a triples document
creates a new graph (201 with its Location), as the protocol describes.
Writes go through the same token check as SPARQL Update, and a body that
does not parse is rejected before anything is written.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, current_app, request, url_for

from ..namespaces import PREFIXES
from ..rdf import parse_rdf
from ..sparql.protocol import ProtocolError, is_absolute_iri
from ..store import results as fmt
from .auth import require_write_access
from .limits import hold_until_sent
from .responses import choose, rdf_content_type, stream_response

bp = Blueprint("graph_store", __name__)

DATASET_FORMATS = [
    fmt.ResultFormat("application/n-quads", ("nquads", "nq")),
    fmt.ResultFormat("application/trig", ("trig",)),
]
_TRIPLE_INPUT = {"text/turtle", "application/n-triples", "application/rdf+xml", "application/ld+json",
                 "text/n3", "application/x-turtle", "text/plain"}
_QUAD_INPUT = {"application/n-quads", "application/trig"}
_ALIASES = {"application/x-turtle": "text/turtle", "text/plain": "application/n-triples"}

ALLOW = "GET, HEAD, PUT, POST, DELETE, OPTIONS"


def _target() -> tuple[bool, str | None]:
    """``(whole_dataset, graph)``; ``graph`` ``None`` is the default graph."""
    graphs = request.args.getlist("graph")
    has_default = "default" in request.args
    if graphs and has_default:
        raise ProtocolError(400, "use either ?graph=IRI or ?default, not both")
    if len(graphs) > 1:
        raise ProtocolError(400, "name exactly one graph")
    if graphs:
        if not is_absolute_iri(graphs[0]):
            raise ProtocolError(400, f"?graph must be an absolute IRI, got {graphs[0]!r}")
        return False, graphs[0]
    return (not has_default), None


def _body_quads(graph: str | None, *, allow_quads: bool):
    media = _ALIASES.get(request.mimetype, request.mimetype)
    if not media:
        raise ProtocolError(415, "a Content-Type is required (text/turtle, application/n-triples, "
                                 "application/rdf+xml, application/ld+json, ...)")
    allowed = _TRIPLE_INPUT | (_QUAD_INPUT if allow_quads else set())
    if media not in allowed:
        raise ProtocolError(415, f"unsupported Content-Type {request.mimetype!r} here; "
                                 f"accepted: {', '.join(sorted(allowed))}")
    base = graph or request.base_url
    return parse_rdf(request.get_data(cache=False), media, graph=graph, base_iri=base)


@bp.route("/store", methods=["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"])
def graph_store() -> Response:
    kg = current_app.extensions["kgraph"]
    store = kg.store
    method = request.method
    if method == "OPTIONS":
        return Response(status=204, headers={"Allow": ALLOW})
    if method == "PATCH":
        raise ProtocolError(405, "PATCH is not supported; use SPARQL Update", {"Allow": ALLOW})
    whole, graph = _target()

    if method in ("GET", "HEAD"):
        slot = kg.enter()
        try:
            response = _read(store, whole, graph)
        except BaseException:
            slot.release()
            raise
        return hold_until_sent(response, slot, method == "HEAD")

    require_write_access(kg.settings)
    with kg.writing():
        return _write(store, method, whole, graph)


def _read(store, whole: bool, graph: str | None) -> Response:  # type: ignore[no-untyped-def]
    if whole:
        media, canonical = choose(DATASET_FORMATS)
        return stream_response(fmt.stream_rdf(store.quads(), canonical, prefixes=PREFIXES),
                               rdf_content_type(media))
    if graph is not None and not store.contains_graph(graph):
        raise ProtocolError(404, f"no graph named <{graph}>")
    media, canonical = choose(fmt.GRAPH_FORMATS)
    return stream_response(fmt.stream_rdf(store.triples(graph), canonical, prefixes=PREFIXES),
                           rdf_content_type(media))


def _write(store, method: str, whole: bool, graph: str | None) -> Response:  # type: ignore[no-untyped-def]
    if method == "PUT":
        if whole:
            raise ProtocolError(400, "PUT needs ?graph=IRI or ?default")
        quads = _body_quads(graph, allow_quads=False)
        existed = graph is None or store.contains_graph(graph)
        store.replace_graph(graph, quads)
        return Response(status=204 if existed else 201)
    if method == "POST":
        if whole:
            media = _ALIASES.get(request.mimetype, request.mimetype)
            if media in _QUAD_INPUT:
                store.add_quads(_body_quads(None, allow_quads=True))
                return Response(status=204)
            new_graph = url_for("graph_store.graph_store", _external=True).rstrip("/") + "/" + str(uuid.uuid4())
            quads = _body_quads(new_graph, allow_quads=False)
            store.replace_graph(new_graph, quads)
            location = url_for("graph_store.graph_store", graph=new_graph, _external=True)
            return Response(status=201, headers={"Location": location})
        quads = _body_quads(graph, allow_quads=False)
        existed = graph is None or store.contains_graph(graph)
        store.add_quads(quads)
        return Response(status=204 if existed else 201)
    if method == "DELETE":
        if whole:
            raise ProtocolError(400, "DELETE needs ?graph=IRI or ?default")
        if graph is not None and not store.contains_graph(graph):
            raise ProtocolError(404, f"no graph named <{graph}>")
        store.drop_graph(graph)
        return Response(status=204)
    raise ProtocolError(405, f"{method} is not allowed on the graph store", {"Allow": ALLOW})

