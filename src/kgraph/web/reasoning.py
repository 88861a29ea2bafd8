"""``POST /reason/scenario`` and ``GET /reason/explain``: what-if and why.

Both only read the store. A scenario runs in a scratch in-memory copy (see
:mod:`kgraph.reasoning.scenario`); an explanation is built from the rule
engine's record of derivations. Bad input answers 400 (or 415 for a media type
other than JSON or Turtle) with a JSON ``{"error": ...}`` body, never a trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, current_app, jsonify, request

from ..reasoning.explain import render_text
from ..reasoning.scenario import ScenarioError, events_from_body, run_scenario
from ..reasoning.service import explain_obligation, explain_triple

reasoning_bp = Blueprint("reasoning", __name__, url_prefix="/reason")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
#: Deepest derivation tree an explanation builds (its walk and rendering recurse).
MAX_DEPTH = 100


def _error(status: int, message: str) -> Response:
    resp = jsonify(error=message, status=status)
    resp.status_code = status
    return resp


def _store():  # type: ignore[no-untyped-def]
    return current_app.extensions["kgraph"].store


def _flag(name: str) -> bool:
    value = request.args.get(name, "").lower()
    if value not in _TRUE + _FALSE:
        raise ScenarioError(f"{name} must be true or false, got {value[:50]!r}")
    return value in _TRUE


@contextmanager
def _slot() -> Iterator[None]:
    """Reasoning is heavy: it takes an evaluation slot like a query does."""
    slot = current_app.extensions["kgraph"].enter()
    try:
        yield
    finally:
        slot.release()


@reasoning_bp.post("/scenario")
def scenario() -> Response:
    """Obligations that hypothetical events would trigger; the store is not changed."""
    try:
        explain = _flag("explain")
        body = request.get_data(cache=False)
        with _slot():
            quads = events_from_body(body, request.content_type)
            result = run_scenario(_store(), quads, explain=explain)
    except ScenarioError as exc:
        return _error(exc.status, str(exc))
    except RecursionError:
        return _error(400, "the body is nested too deeply")
    return jsonify(result.as_dict())


@reasoning_bp.get("/explain")
def explain() -> Response:
    """Derivation tree of ``s``/``p``/``o`` or of everything inferred about ``obligation``."""
    args = request.args
    try:
        depth = int(args.get("depth", "25"))
    except ValueError:
        return _error(400, "depth must be an integer")
    if not 0 <= depth <= MAX_DEPTH:
        return _error(400, f"depth must be between 0 and {MAX_DEPTH}")
    fmt_name = args.get("format")
    if fmt_name not in (None, "", "text", "json"):
        return _error(400, "format must be text or json")
    if not args.get("obligation") and not all(args.get(k) for k in ("s", "p", "o")):
        return _error(400, "give s, p and o (IRIs, CURIEs or, for o, an N-Triples literal), "
                           "or obligation=IRI")
    try:
        with _slot():
            if args.get("obligation"):
                out = explain_obligation(_store(), args["obligation"], max_depth=depth)
                trees = out["inferred"]
            else:
                out = explain_triple(_store(), args["s"], args["p"], args["o"], max_depth=depth)
                trees = [out]
    except ScenarioError as exc:
        return _error(exc.status, str(exc))
    except LookupError as exc:
        return _error(404, str(exc))
    if fmt_name == "text" or (
        fmt_name != "json"
        and request.accept_mimetypes.best_match(["application/json", "text/plain"]) == "text/plain"
        and "application/json" not in request.accept_mimetypes.values()
    ):
        text = "\n\n".join(render_text(t) for t in trees)  # type: ignore[union-attr]
        return Response(text + "\n", mimetype="text/plain")
    return jsonify(out)
