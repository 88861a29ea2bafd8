"""Hostile RDF documents are refused before any parser reads them.

:func:`check_rdf` runs on every document :func:`kgraph.rdf.parse_rdf` is given
(uploads, Graph Store writes, ``store.load``), in linear time:

- Turtle, TriG, N3, N-Triples, N-Quads: brackets (``[ ( {`` and ``<<``)
  nested deeper than :data:`MAX_RDF_DEPTH` are refused; pyoxigraph's parsers
  recurse on ``<<( )>>`` (crash at 18,176 levels on an 8 MiB stack, 2,272 on
  1 MiB); ``[ ]``, ``( )`` and ``<< >>`` did not crash up to 1,048,576 levels.
- JSON-LD: JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused (a
  30,000-deep upload killed the server), and so is every ``@context`` that
  names a document (a string, or ``@import``): a remote context would be
  fetched from wherever the uploader points, so kgraph never resolves one
  (pyoxigraph does not fetch them either: tests/test_ssrf.py). pyoxigraph's
  JSON-LD parser crashed at 3,264 nested objects (8 MiB stack; 400 on 1 MiB);
  nested arrays end in a syntax error instead.
- RDF/XML: read first by defusedxml's expat parser with entity declarations and
  external references forbidden (billion laughs, XXE), which also measures the
  element depth (refused beyond :data:`MAX_XML_DEPTH`; pyoxigraph's RDF/XML parser
  did not crash up to 65,536 levels but slows down: refusing early is cheaper).

Every refusal is an :class:`~kgraph.store.base.RdfSyntaxError` (HTTP 400).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from pyoxigraph import RdfFormat

from .errors import RdfSyntaxError
from .nesting import QueryTooDeepError, bracket_depth, check_nesting

#: Deepest bracket nesting in Turtle-family documents (pyoxigraph crashes in the
#: thousands); real data nests a handful of levels.
MAX_RDF_DEPTH = 64
#: Deepest JSON nesting of a JSON-LD document (each JSON-LD level is 2-3 JSON levels).
MAX_JSON_DEPTH = 128
#: Deepest element nesting of an RDF/XML document.
MAX_XML_DEPTH = 256

_TURTLE_FAMILY = (RdfFormat.TURTLE, RdfFormat.TRIG, RdfFormat.N3, RdfFormat.N_TRIPLES,
                  RdfFormat.N_QUADS)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Where a remote context could hide (an escaped key sends every document to the walk).
_MAYBE_REMOTE = re.compile(rb'"@context"\s*:\s*[\["]|@import|\\u')


def check_rdf(data: bytes, fmt: RdfFormat) -> None:
    """Refuse a document that is too deep, declares entities or names a remote context."""
    if fmt in _TURTLE_FAMILY:
        try:
            check_nesting(data, what="document", unary=False, limit=MAX_RDF_DEPTH,
                          iri_operators=False)
        except QueryTooDeepError as exc:
            raise RdfSyntaxError(str(exc)) from exc
    elif fmt == RdfFormat.JSON_LD:
        check_json_ld(data)
    elif fmt == RdfFormat.RDF_XML:
        check_rdf_xml(data)


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text (strings skipped), linear time."""
    if b"\\" in data:  # escaped quotes possible: strings found by a regex
        return bracket_depth(_JSON_STRING.sub(b"", data))
    # No backslash: every '"' opens or closes a string, so "inside a string" is the
    # parity of the quotes before a byte (numpy, about ten times the regex's speed).
    import numpy as np

    codes = np.frombuffer(data, dtype=np.uint8)
    inside = np.bitwise_xor.accumulate((codes == 34).view(np.uint8))  # 34: '"'
    brackets = (codes == 91) | (codes == 93) | (codes == 123) | (codes == 125)
    return bracket_depth(codes[brackets & (inside == 0)].tobytes())


def check_json_ld(data: bytes) -> None:
    """Refuse deep JSON and any ``@context`` that refers to another document."""
    # The first MiB first (cut at a line end: a raw newline is never inside a JSON
    # string), so that a hostile document is refused in milliseconds whatever its size.
    depth = 0
    if len(data) > 2 << 20:
        cut = data.rfind(b"\n", 0, 1 << 20)
        depth = json_depth(data[: cut if cut > 0 else 1 << 20])
    if depth <= MAX_JSON_DEPTH:
        depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise RdfSyntaxError(
            f"the JSON-LD document is nested {depth} levels deep; at most {MAX_JSON_DEPTH} "
            "are accepted")
    if _MAYBE_REMOTE.search(data) is None:
        return  # every @context (if any) is an object without @import
    try:
        doc = json.loads(data)  # the depth is bounded: no deep recursion in the decoder
    except ValueError as exc:
        raise RdfSyntaxError(f"invalid JSON: {exc}") from exc
    for context in _contexts(doc):
        for entry in context if isinstance(context, list) else [context]:
            if isinstance(entry, str):
                raise RdfSyntaxError(
                    f"remote JSON-LD contexts are not fetched: \"@context\": {entry!r}; "
                    "put the context object in the document instead")
            if isinstance(entry, dict) and "@import" in entry:
                raise RdfSyntaxError("remote JSON-LD contexts are not fetched (@import)")


def _contexts(doc: object) -> Iterator[object]:
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "@context" in item:
                yield item["@context"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class _Depth:
    """An ElementTree parser target that only counts how deep elements nest."""

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise RdfSyntaxError(f"the RDF/XML document nests elements more than "
                                 f"{MAX_XML_DEPTH} levels deep")

    def end(self, tag: str) -> None:
        self.depth -= 1

    def close(self) -> None:
        return None


def check_rdf_xml(data: bytes) -> None:
    """Read the document with defusedxml's expat parser (no entity declarations, no
    external references) and refuse it beyond :data:`MAX_XML_DEPTH` nested elements."""
    from xml.etree.ElementTree import ParseError

    import defusedxml
    from defusedxml.ElementTree import DefusedXMLParser

    parser = DefusedXMLParser(target=_Depth(), forbid_dtd=False, forbid_entities=True,
                              forbid_external=True)
    try:
        for start in range(0, len(data), 1 << 20):
            parser.feed(data[start : start + (1 << 20)])
        parser.close()
    except defusedxml.DefusedXmlException as exc:
        raise RdfSyntaxError(
            "RDF/XML with entity declarations or external references is refused "
            f"({type(exc).__name__})") from exc
    except ParseError as exc:
        raise RdfSyntaxError(f"invalid XML: {exc}") from exc
