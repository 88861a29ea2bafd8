"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol.

``?graph=IRI`` names a graph (indirect identification) and ``?default`` the store's
own default graph; with neither, ``/store`` is the protocol's "graph store" resource:
GET returns the whole dataset, POST of a quads document adds its quads, and POST of a
triples document creates a new graph and answers 201 with the new graph's IRI as
``Location`` (``<root>/store/<uuid>``, see :mod:`kgraph.web.service_iri`). Such an IRI
is also served directly: ``/store/<name>`` is the graph ``<root>/store/<name>``.

A POST may carry ``multipart/form-data``: every part is an RDF document with its own
Content-Type (or a file name whose extension says the format), and all of them go
into the target graph together, or nothing does (a bad part is named in the 400/415).
Writes go through the same token check as SPARQL Update, the body limits hold for the
whole request, and a body that does not parse is rejected before anything is written.
"""

from __future__ import annotations

import codecs
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from pyoxigraph import Quad, RdfFormat
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ..errors import RdfSyntaxError
from ..namespaces import PREFIXES
from ..rdf import parse_rdf
from ..sparql.protocol import ProtocolError, is_absolute_iri
from ..store import results as fmt
from .auth import require_write_access
from .limits import hold_until_sent
from .responses import choose, rdf_content_type, stream_response
from .service_iri import STORE_PATH, new_graph_iri, service_root

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
MULTIPART = "multipart/form-data"
#: Most parts in one multipart POST (werkzeug's own form limit).
MAX_PARTS = 1000
_UTF8 = frozenset({"utf-8", "ascii"})


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


def _body_quads(graph: str | None, *, allow_quads: bool, multipart: bool = False) -> list[Quad]:
    if multipart and request.mimetype == MULTIPART:
        return _multipart_quads(graph)
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


def _parts(body: bytes, boundary: str) -> list[tuple[str, str | None, str, bytes]]:
    """``(name, file name, Content-Type, bytes)`` of every part of a multipart body."""
    decoder = MultipartDecoder(boundary.encode("latin-1", "replace"), max_parts=MAX_PARTS)
    parts: list[tuple[str, str | None, str, bytearray]] = []
    try:
        decoder.receive_data(body)
        decoder.receive_data(None)
        while True:
            event = decoder.next_event()
            if isinstance(event, Field | File):
                filename = event.filename if isinstance(event, File) else None
                parts.append((event.name, filename, event.headers.get("Content-Type", ""),
                              bytearray()))
            elif isinstance(event, Data) and parts:
                parts[-1][3].extend(event.data)
            elif isinstance(event, Epilogue):
                break
            elif isinstance(event, NeedData):
                raise ValueError("the body ends before the closing boundary")
    except RequestEntityTooLarge:
        raise ProtocolError(413, f"a multipart body may have at most {MAX_PARTS} parts") from None
    except ValueError as exc:
        raise ProtocolError(400, f"the multipart/form-data body is malformed: {exc}") from None
    return [(name, filename, ctype, bytes(data)) for name, filename, ctype, data in parts]


def _part_media(label: str, filename: str | None, ctype: str) -> str:
    """The RDF media type of one part: its Content-Type, else its file name's extension."""
    mimetype, options = parse_options_header(ctype)
    mimetype = mimetype.lower()
    if mimetype in ("", "application/octet-stream") and filename and "." in filename:
        fmt = RdfFormat.from_extension(filename.rsplit(".", 1)[1].lower())
        if fmt is not None and not fmt.supports_datasets:
            mimetype = fmt.media_type
    media = _ALIASES.get(mimetype, mimetype)
    if media not in _TRIPLE_INPUT:
        shown = f"Content-Type {ctype[:100]!r}" if ctype else "no Content-Type"
        raise ProtocolError(415, f"{label} has {shown}; each part must be an RDF triples "
                                 f"document: {', '.join(sorted(_TRIPLE_INPUT))}")
    charset = options.get("charset")
    if charset is not None:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            name = None
        if name not in _UTF8:
            raise ProtocolError(415, f"{label} declares charset {charset[:100]!r}; RDF "
                                     "documents are read as UTF-8")
    return media


def _multipart_quads(graph: str | None) -> list[Quad]:
    """All the triples of every part of a ``multipart/form-data`` body, in ``graph``: every
    part is parsed before anything is written (all or nothing)."""
    boundary = request.mimetype_params.get("boundary")
    if not boundary:
        raise ProtocolError(400, "a multipart/form-data body needs a boundary parameter")
    parts = _parts(request.get_data(cache=False), boundary)
    if not parts:
        raise ProtocolError(400, "the multipart/form-data body has no parts")
    base = graph or request.base_url
    quads: list[Quad] = []
    for n, (name, filename, ctype, data) in enumerate(parts, 1):
        label = f"part {n} ({(filename or name)[:100]!r})"
        media = _part_media(label, filename, ctype)
        try:
            quads.extend(parse_rdf(data, media, graph=graph, base_iri=base))
        except RdfSyntaxError as exc:
            raise ProtocolError(400, f"{label} is not valid {media}: {exc}") from None
    return quads


_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]


@bp.route(STORE_PATH, methods=_METHODS)
def graph_store() -> Response:
    return _handle(None)


@bp.route(STORE_PATH + "/<path:name>", methods=_METHODS)
def named_graph(name: str) -> Response:
    """Direct identification of the graphs ``POST /store`` mints: ``/store/<name>`` is
    the graph ``<root>/store/<name>``."""
    if request.args:
        raise ProtocolError(400, "a graph named by its own URL takes no ?graph or ?default")
    root = service_root(current_app.extensions["kgraph"].settings, request.environ)
    if root is None:
        raise ProtocolError(400, "the Host header does not make a graph IRI")
    return _handle(root + quote(request.path, safe="/:@!$&'()*+,;=-._~%"))


def _handle(direct: str | None) -> Response:
    kg = current_app.extensions["kgraph"]
    store = kg.store
    method = request.method
    if method == "OPTIONS":
        return Response(status=204, headers={"Allow": ALLOW})
    if method == "PATCH":
        raise ProtocolError(405, "PATCH is not supported; use SPARQL Update", {"Allow": ALLOW})
    whole, graph = (False, direct) if direct is not None else _target()

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
        return _write(store, method, whole, graph, kg.settings)


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


def _write(store, method: str, whole: bool, graph: str | None, settings) -> Response:  # type: ignore[no-untyped-def]
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
            new_graph = new_graph_iri(settings, request.environ)
            if new_graph is None:
                raise ProtocolError(400, "the Host header does not make a graph IRI; the "
                                         "operator can set KGRAPH_PUBLIC_URL")
            quads = _body_quads(new_graph, allow_quads=False, multipart=True)
            store.replace_graph(new_graph, quads)
            return Response(status=201, headers={"Location": new_graph})
        quads = _body_quads(graph, allow_quads=False, multipart=True)
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

