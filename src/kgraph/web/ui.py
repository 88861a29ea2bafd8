"""The query editor (``/``, and ``/sparql`` for a browser) and the JSON it reads.

The editor is Yasqe (highlighting, completion) and Yasr (results) from the vendored
assets in ``static/vendor/`` (see ``scripts/build-web.sh``), with kgraph's own graph and
timeline views in ``static/js/editor.js``. Nothing it loads or asks comes from outside
this server: prefixes are kgraph's own (:data:`kgraph.namespaces.PREFIXES` and those
the ontology's Turtle files declare), class and property completions come from the
store through one bounded query each, and results and downloads come from ``/sparql``.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path

import pyoxigraph
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from ..namespaces import BASE, OWL, PREFIXES, RDF, RDFS
from ..sparql.protocol import ProtocolError
from ..store import results as fmt
from ..store.base import SelectResult
from .named_queries import description, query_files

bp = Blueprint("ui", __name__)
log = logging.getLogger("kgraph.http")

#: Most terms one completion list holds.
MAX_TERMS = 5000
#: Most triples the completion queries read to find the classes and properties in use.
SCAN_LIMIT = 100_000
#: Longest a completion query may run (the store stops it where it can).
COMPLETION_TIMEOUT_S = 10.0

_DECLARED = {
    "class": (f"<{OWL}Class>", f"<{RDFS}Class>"),
    "property": (f"<{OWL}ObjectProperty>", f"<{OWL}DatatypeProperty>",
                 f"<{OWL}AnnotationProperty>", f"<{RDF}Property>"),
}
_IN_USE = {
    "class": "?x a ?term",
    "property": "?x ?term ?y",
}

DEFAULT_QUERY = """PREFIX kgo: <https://w3id.org/kgraph/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>

SELECT ?state ?label WHERE {
  ?state a kgo:State ;
         rdfs:label ?label .
}
ORDER BY ?label
LIMIT 100
"""


def completion_query(kind: str) -> str:
    """The one bounded query behind a completion list: terms the ontology declares, and
    terms used in the first :data:`SCAN_LIMIT` matching triples."""
    declared = " ".join(_DECLARED[kind])
    return (
        "SELECT DISTINCT ?term WHERE {\n"
        f"  {{ VALUES ?type {{ {declared} }} ?term a ?type }}\n"
        f"  UNION {{ SELECT DISTINCT ?term WHERE {{ {{ SELECT ?term WHERE {{ {_IN_USE[kind]} }}"
        f" LIMIT {SCAN_LIMIT} }} }} }}\n"
        "  FILTER(isIRI(?term))\n"
        f"}} LIMIT {MAX_TERMS + 1}"
    )


@lru_cache(maxsize=8)
def _declared_prefixes(folder: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, _ in stamp:
        path = folder / name
        try:
            parser = pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.TURTLE)
            for _quad in parser:
                pass
            found.update(parser.prefixes)
        except (OSError, SyntaxError, ValueError) as exc:  # a broken file costs its prefixes only
            log.warning("no prefixes from %s: %s", name, exc)
    return found


def ontology_prefixes(folder: Path) -> dict[str, str]:
    """Prefixes the ontology's Turtle files declare (re-read when a file changes)."""
    if not folder.is_dir():
        return {}
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.ttl")))
    return _declared_prefixes(folder, stamp)


def all_prefixes(ontology_dir: Path) -> dict[str, str]:
    """kgraph's prefixes, then the ontology's; kgraph's own win a clash. Sorted by name."""
    merged = {k: v for k, v in ontology_prefixes(ontology_dir).items() if k and v}
    merged.update(PREFIXES)
    return dict(sorted(merged.items()))


class Completions:
    """Class and property lists per store version: the store is asked again only after
    it changed (a version of ``None`` means the store cannot tell, so ask every time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[object, list[str], bool]] = {}

    def get(self, kind: str) -> tuple[list[str], bool]:
        kg = current_app.extensions["kgraph"]
        store = kg.store
        version = store.version()
        with self._lock:
            hit = self._cache.get(kind)
        if hit is not None and version is not None and hit[0] == version:
            return hit[1], hit[2]
        timeout = min(COMPLETION_TIMEOUT_S, kg.settings.query_timeout_s or COMPLETION_TIMEOUT_S)
        slot = kg.enter()
        try:
            answer = store.query(completion_query(kind), timeout_s=timeout)
            if not isinstance(answer, SelectResult):
                raise ProtocolError(500, "the completion query did not answer solutions")
            terms = sorted({row[0].value for row in answer.rows if row[0] is not None})
        finally:
            slot.release()
        truncated = len(terms) > MAX_TERMS
        terms = terms[:MAX_TERMS]
        with self._lock:
            self._cache[kind] = (version, terms, truncated)
        return terms, truncated


def _completions() -> Completions:
    ext = current_app.extensions
    if "kgraph.ui" not in ext:
        ext["kgraph.ui"] = Completions()
    return ext["kgraph.ui"]


def _formats(formats: list[fmt.ResultFormat]) -> list[dict[str, str]]:
    return [{"name": f.names[0], "media_type": f.media_type} for f in formats]


def editor_response() -> Response:
    """The editor page (``/``, and ``/sparql`` for a browser that asks no query)."""
    kg = current_app.extensions["kgraph"]
    examples = []
    for name, path in query_files(kg.settings.queries_dir).items():
        text = path.read_text(encoding="utf-8")
        examples.append({"name": name, "description": description(text), "query": text})
    initial = request.args.get("query") if request.path == "/" else None
    config = {
        "endpoint": url_for("sparql.sparql"),
        "prefixes": url_for("ui.prefixes"),
        "completions": url_for("ui.completions"),
        "resourceBase": BASE,
        "root": request.script_root,
        "formats": {
            "solutions": _formats(fmt.SOLUTION_FORMATS),
            "graph": _formats(fmt.GRAPH_FORMATS),
        },
        "prefixMap": all_prefixes(kg.settings.ontology_dir),
        "updates": kg.settings.allow_update,
        "initialQuery": initial,
        "defaultQuery": DEFAULT_QUERY,
        "examples": examples,
    }
    html = render_template("editor.html", config=config, examples=examples)
    return Response(html, mimetype="text/html")


@bp.get("/")
def index() -> Response:
    return editor_response()


@bp.get("/ui/prefixes.json")
def prefixes() -> Response:
    """``{prefix: namespace}``: what the editor completes after ``PREFIX``."""
    kg = current_app.extensions["kgraph"]
    return jsonify(prefixes=all_prefixes(kg.settings.ontology_dir))


@bp.get("/ui/completions.json")
def completions() -> Response:
    """IRIs of the classes (``kind=class``) or properties (``kind=property``) the store
    declares or uses, for the editor's completion."""
    kind = request.args.get("kind", "")
    if kind not in _DECLARED:
        raise ProtocolError(400, "'kind' must be 'class' or 'property'")
    terms, truncated = _completions().get(kind)
    return jsonify(kind=kind, terms=terms, truncated=truncated)
