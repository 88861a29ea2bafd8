"""How deep a text nests, measured in linear time before any parser reads it.

pyoxigraph's SPARQL and RDF parsers recurse on nesting and overflow their thread's stack
on deep enough input; the SPARQL guard (:mod:`kgraph.sparql.guard`, whose module doc has
every construct measured) and the RDF guard (:mod:`kgraph.rdfguard`) both refuse a text
nested deeper than a bound, with the scan here. Strings, comments and IRIs are the same in
Turtle and SPARQL, so one scan serves both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SparqlSyntaxError

#: Deepest bracket nesting handed to the engine. The engine's recursive parser
#: overflows an 8 MiB thread stack at about 2,200 nested groups (272 on a
#: 1 MiB stack); see the module doc for every construct measured.
MAX_DEPTH = 64
#: Longest run of unary operators (``!!!!x``, ``- - - 1``, ``-(-(-(``).
MAX_UNARY_RUN = 32


class QueryTooDeepError(SparqlSyntaxError):
    """Nesting deeper than the engine can safely parse (HTTP 400)."""


# -- nesting --------------------------------------------------------------------------------
# The scan works on UTF-8 bytes (every delimiter is ASCII, and no byte of a multi-byte
# character is): regex substitution, bytes.translate and numpy, no Python loop per token.
_STRING = (
    rb'"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    rb"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    rb'|"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"'
    rb"|'[^'\\\n\r]*(?:\\.[^'\\\n\r]*)*'"
)
_COMMENT = (rb"|#[^\n\r]*"
            # a prefixed name with its escapes (PN_LOCAL_ESC): ex:a\' is a name, no string
            # start, ex:a\# no comment, ex:a\( no opener
            rb"|(?:[A-Za-z\x80-\xff][\w.\-\x80-\xff]*)?:"
            rb"(?:[\w.\-:%\x80-\xff]|\\[_~.\-!$&'()*+,;=/?#@%])*")
_IRI = rb"<[^<>\"{}|^`\\\x00-\x20]*>"
#: Strings, comments and IRIs, longest forms first (Turtle and SPARQL share them).
_OPAQUE = re.compile(_STRING + _COMMENT + rb"|" + _IRI, re.DOTALL)
#: The start of an IRI-looking token with a bracket in it (no need to find its end).
_BRACKETED_IRI = re.compile(rb"<[^<>\"{}|^`\\\x00-\x20()\[]*[(\[]")
_UNARY_RUN = re.compile(
    rb"[!+\-](?:(?:[\s(]|#[^\n\r]*)*[!+\-]){" + str(MAX_UNARY_RUN).encode() + rb"}")
_KEEP = bytes(range(256)).replace(b"\x01", b"(").replace(b"\x02", b")")
_DROP = bytes(b for b in range(256) if b not in b"()[]{}\x01\x02")


def _strip(m: re.Match[bytes]) -> bytes:
    """A string, comment or IRI-looking token, blanked; but an IRI-looking token that
    could be code after all (``<`` as an operator) keeps its matched bracket pairs and
    unmatched openers (an unmatched closer inside it never counts)."""
    token = m.group()
    if token[0] != 60 or (b"(" not in token and b"[" not in token):  # 60: '<'
        return b" "
    out = bytearray(b" ")
    opened = 0
    for ch in token:
        if ch in b"([":
            out.append(ch)
            opened += 1
        elif ch in b")]" and opened:
            out.append(ch)
            opened -= 1
    out.append(32)
    return bytes(out)


def _operand(m: re.Match[bytes]) -> bytes:
    # A string or IRI ends a chain of unary operators; a comment does not.
    return b" " if m.group().startswith(b"#") else b"0"


def _depth(skeleton: bytes) -> int:
    """Deepest nesting of a string of brackets (a closer never goes below zero)."""
    if not skeleton:
        return 0
    import numpy as np

    steps = _STEPS[np.frombuffer(skeleton, dtype=np.uint8)]
    walk = np.cumsum(steps, dtype=np.int64 if len(skeleton) >= 1 << 31 else np.int32)
    if walk.min() >= 0:  # no closer ever outnumbers the openers before it
        return int(walk.max())
    floor = np.minimum.accumulate(np.minimum(walk, 0))
    return int((walk - floor).max())


def _steps() -> object:
    import numpy as np

    table = np.full(256, -1, dtype=np.int8)
    table[[ord("("), ord("["), ord("{")]] = 1
    return table


_STEPS: object = None
_PREFIX = 1 << 20


@dataclass(frozen=True)
class Nesting:
    """How deep a text nests (an upper bound), and whether it chains too many unary
    operators."""

    depth: int
    unary_run: bool


def nesting(text: str | bytes, *, unary: bool = True, limit: int = MAX_DEPTH,
            iri_operators: bool = True) -> Nesting:
    """Measure ``text`` in linear time, over-approximating what a parser recurses into.

    Every opener outside strings and comments counts, ``<<`` as one more. Inside
    an IRI-looking token (``<...>`` might be ``<`` operators to the engine),
    matched bracket pairs and unmatched openers count, unmatched closers never
    do. A text with no more openers in all than ``limit`` is within the limit
    whatever its tokens are: its depth is reported as that count, unscanned.
    ``iri_operators=False`` (Turtle: ``<`` always starts an IRI) drops IRIs whole.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    run = unary and _UNARY_RUN.search(data) is not None
    if run:
        run = _UNARY_RUN.search(_OPAQUE.sub(_operand, data)) is not None
    openers = data.count(b"(") + data.count(b"[") + data.count(b"{") + data.count(b"<<")
    if openers <= limit:
        return Nesting(openers, run)
    if len(data) > 2 * _PREFIX:
        # A hostile document usually nests from the start: measure its first lines
        # first, so that it is refused in milliseconds whatever its size.
        # (Cut at a line end if there is one: only the token the cut splits can be
        # misread, and that only adds to the count.)
        cut = data.rfind(b"\n", 0, _PREFIX)
        head = nesting(data[: cut if cut > 0 else _PREFIX], unary=False, limit=limit,
                       iri_operators=iri_operators)
        if head.depth > limit:
            return Nesting(head.depth, run)
    # Only IRI-looking tokens with brackets need the (Python) callback; most texts have none.
    strip = _strip if iri_operators and _BRACKETED_IRI.search(data) else b" "
    return Nesting(bracket_depth(_OPAQUE.sub(strip, data)), run)


def bracket_depth(code: bytes) -> int:
    """Deepest nesting of ``( [ {`` (and ``<<``) in a text already free of strings,
    comments and IRIs; linear time, in C (regex, translate, numpy)."""
    global _STEPS
    if _STEPS is None:
        _STEPS = _steps()
    code = code.replace(b"<<", b"\x01").replace(b">>", b"\x02")
    return _depth(code.translate(_KEEP, _DROP))


def check_nesting(text: str | bytes, *, what: str = "query", unary: bool = True,
                  limit: int = MAX_DEPTH, iri_operators: bool = True) -> None:
    """Raise :class:`QueryTooDeepError` for a text nested deeper than ``limit``."""
    found = nesting(text, unary=unary, limit=limit, iri_operators=iri_operators)
    if found.depth > limit:
        raise QueryTooDeepError(
            f"the {what} is nested {found.depth} levels deep (brackets, groups, "
            f"expressions); at most {limit} levels are accepted")
    if found.unary_run:
        raise QueryTooDeepError(
            f"the {what} chains more than {MAX_UNARY_RUN} unary operators")
