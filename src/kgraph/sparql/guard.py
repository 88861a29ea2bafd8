"""The one gate every SPARQL query and update passes before an engine reads it.

:func:`prepare` returns the exact text to hand the engine, or raises a
400-class error. It decides on what the engine will read, not on how the text
looks:

1. **Codepoint escapes** (SPARQL 1.1 §19.2) are expanded first, everywhere, as
   the standard says (``SERVIC\\u0045 <http://\\u0031\\u0032\\u0037.0.0.1/>``
   is a SERVICE call to 127.0.0.1). The engine receives the expanded text,
   written so that the engine's own expansion cannot change it again: a
   backslash still followed by ``u``/``U`` is written ``\\u005C``. (pyoxigraph
   0.5 expands escapes inside IRIs and strings only, rdflib everywhere; on the
   expanded text both read the same thing.)
2. **Nesting**: brackets of every kind (``{ ( [``, ``<<``) and runs of unary
   operators are measured by a linear scan (:func:`nesting`) and refused
   beyond :data:`MAX_DEPTH` / :data:`MAX_UNARY_RUN`, before any recursive
   parser sees the text (the engine's parser dies of a stack overflow a few
   hundred to a few thousand levels deep, see the table below).
3. **Outbound calls**: a text in which neither ``service`` nor ``load``
   occurs (case-insensitively, after expansion) cannot make the engine fetch
   anything and is handed over as it is: that is the fast path, microseconds.
   Otherwise rdflib's SPARQL parser is the authority for which SERVICE and
   LOAD IRIs the text holds (after prefixed names and BASE, per operation);
   the lexer only locates their spans for the rewrite. SERVICE goes through
   :mod:`kgraph.sparql.federation` (allowlist, snapshot/live/relay rewrites),
   LOAD must be on ``Settings.load_allowlist`` (empty by default).
   ``SERVICE ?var`` is refused whatever binds the variable. The rewritten text
   is parsed again and must hold exactly the expected SERVICE and LOAD IRIs.
   Any disagreement between the lexer and the parser, and any parse failure,
   refuses the request (fail closed).

Where pyoxigraph 0.5.13's SPARQL parser kills the process (stack overflow,
SIGSEGV), measured in a subprocess by bisection, on the main thread's 8 MiB
stack / on a thread with a 1 MiB stack (nesting levels, or chain length)::

    { } groups                2,208 / 272     NOT EXISTS { }          848 / 104
    ( ) in expressions        4,672 / 576     subqueries            1,184 / 152
    [ ] blank-node lists     > 1,024 / 328    STR(STR(...)) calls     960 / 120
    ( ) collections      exponential time*    <<( )>> triple terms  6,016 / 744
    << >> quoted triples exponential time*    ( ) paths, ^( ) paths 13,824 / 1,696
    !!!! negations            9,472 / 1,168   -( -( negations       4,672 / 576
    INSERT DATA [ ]           3,648 / 448     update WHERE { }      2,208 / 272
    1+1+...+1 chain           6,912           ||-chain              9,472
    UNION chain               6,656           OPTIONAL chain        6,656
    FILTER chain              9,472           | path alternatives  11,008
    / sequence paths     exponential time*    (0.03 s at 64 steps, 2.8 s at 256)

    * parse time grows ~8x per doubling: 0.3-0.5 s at 64 levels, 3-7 s at 128,
      more than 20 s at 256; no crash was reached within 20 s.

The limits (:data:`MAX_DEPTH` 64 levels, :data:`MAX_CHAIN` 256 operators,
:data:`MAX_SEQUENCE` 64 path steps, :data:`MAX_UNARY_RUN` 32) sit below the
smallest of these on a 1 MiB stack (104 nested NOT EXISTS).
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config import Settings
from ..lexer import load_refs, replace_spans, resolve_iri, service_refs, tokenize
from ..nesting import (  # noqa: F401 (re-exported: the guard's bounds and scan)
    _OPAQUE,
    MAX_DEPTH,
    MAX_UNARY_RUN,
    Nesting,
    QueryTooDeepError,
    bracket_depth,
    check_nesting,
    nesting,
)
from ..store.base import SparqlSyntaxError
from .federation import ServiceNotAllowedError, plan_services

#: Most chained operators in one text (``+ - * / | || &&``, UNION, OPTIONAL, MINUS,
#: FILTER): each builds one more level of a left-deep tree that the engine walks
#: recursively (8 MiB stack: it dies at 6,656 chained UNIONs or OPTIONALs, 6,912 ``+``).
MAX_CHAIN = 256
#: Most ``/`` (sequence paths): the engine's parse time doubles about every 16 more
#: (0.03 s at 64, 2.8 s at 256, 30 s at 500).
MAX_SEQUENCE = 64
#: A text that needs the full parse (it mentions SERVICE or LOAD) is parsed by
#: rdflib, whose pyparsing grammar is slow on deep nesting (a second at 64
#: nested groups): such texts have tighter bounds.
MAX_CHECKED_DEPTH = 24
MAX_CHECKED_CHARS = 64 * 1024
#: rdflib re-scans the whole text for every SERVICE clause (quadratic), and recurses
#: without end on a SERVICE inside a SERVICE: at most this many, none nested.
MAX_SERVICES = 8


class AmbiguousEscapeError(SparqlSyntaxError):
    """A codepoint escape that engines read differently (HTTP 400)."""


class LoadNotAllowedError(ServiceNotAllowedError):
    """``LOAD`` from an IRI that is not on the LOAD allowlist (HTTP 400)."""


# -- codepoint escapes (§19.2) ------------------------------------------------------------
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LEFT_ESCAPE = re.compile(r"(\\+)(?=[uU])")


def _codepoint(m: re.Match[str]) -> str:
    value = int(m.group(1) or m.group(2), 16)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise AmbiguousEscapeError(f"{m.group()} is not a Unicode code point")
    return chr(value)


def expand_codepoints(text: str) -> str:
    """``\\uXXXX`` and ``\\UXXXXXXXX`` replaced by their characters, in one pass."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_codepoint, text)


def _escape_backslash(m: re.Match[str]) -> str:
    if len(m.group(1)) > 1:
        # ``\\u``: one reader takes ``\\`` as a string escape first, another expands
        # ``\u`` first; there is no spelling both read the same way.
        raise AmbiguousEscapeError(
            "a run of backslashes before 'u'/'U' (after codepoint escapes) is ambiguous")
    return "\\u005C"


def engine_safe(expanded: str) -> str:
    """``expanded`` written so that one more codepoint expansion yields exactly it."""
    if "\\" not in expanded or _LEFT_ESCAPE.search(expanded) is None:
        return expanded
    return _LEFT_ESCAPE.sub(_escape_backslash, expanded)


_CHAIN_CHARS = b"+-*/|&"
_CHAIN_WORDS = (b"union", b"optional", b"minus", b"filter")
#: Tokens whose ``-``, ``+``, ``.`` or ``/``-free text could hold an operator character
#: but never an operator: variables, prefixed names, language tags, exponents.
_NOT_OPERATORS = re.compile(
    rb"[?$][\w\x80-\xff]+"
    rb"|(?:[A-Za-z\x80-\xff][\w.\-\x80-\xff]*)?:(?:[\w.\-:%\x80-\xff]|\\.)*"
    rb"|@[A-Za-z]+(?:-[A-Za-z0-9]+)*"
    rb"|[0-9]*\.?[0-9]+[eE][+-]?[0-9]+")


def _chain_counts(data: bytes) -> tuple[int, int]:
    low = data.lower()
    ops = len(data) - len(data.translate(None, _CHAIN_CHARS))  # all six characters, one pass
    union, optional, minus, filter_ = _CHAIN_WORDS
    return (ops + low.count(union) + low.count(optional) + low.count(minus)
            + low.count(filter_), data.count(b"/"))


def chains(text: str | bytes) -> tuple[int, int]:
    """(chained operators, ``/``) in a query or update, an upper bound: byte counts,
    then (when over the limits) the same outside strings, comments, IRIs, variables,
    prefixed names, language tags and exponents. Linear, in C."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    ops, slashes = _chain_counts(data)
    if ops <= MAX_CHAIN and slashes <= MAX_SEQUENCE:
        return ops, slashes
    return _chain_counts(_NOT_OPERATORS.sub(b"0", _OPAQUE.sub(b"0", data)))


def check_chains(text: str | bytes, *, what: str = "query") -> None:
    """Raise :class:`QueryTooDeepError` for too many chained operators or path steps."""
    ops, slashes = chains(text)
    if ops > MAX_CHAIN:
        raise QueryTooDeepError(
            f"the {what} chains {ops} operators, UNION, OPTIONAL, MINUS or FILTER clauses; "
            f"at most {MAX_CHAIN} are accepted")
    if slashes > MAX_SEQUENCE:
        raise QueryTooDeepError(
            f"the {what} has {slashes} sequence-path steps or divisions; at most "
            f"{MAX_SEQUENCE} are accepted")


# -- the parse-based decision -------------------------------------------------------------
_RDFLIB_LOCK = threading.Lock()
#: rdflib's grammar recurses about 40 Python frames per nesting level.
_RDFLIB_RECURSION = 4_000


@dataclass(frozen=True)
class Outbound:
    """The SERVICE endpoints (``None`` for a variable) and LOAD sources a text holds."""

    services: tuple[str | None, ...]
    loads: tuple[str, ...]


def _walk(node: object, found_services: list[str | None], found_loads: list[str]) -> None:
    from rdflib.plugins.sparql.parserutils import CompValue
    from rdflib.term import URIRef, Variable

    stack = [node]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, CompValue):
            if item.name == "ServiceGraphPattern":
                term = item["term"] if "term" in item else None  # noqa: SIM401 (CompValue.get)
                if isinstance(term, Variable):
                    found_services.append(None)
                elif isinstance(term, URIRef):
                    found_services.append(str(term))
                else:
                    raise ServiceNotAllowedError("cannot decide which endpoint a SERVICE calls")
            elif item.name == "Load":
                iri = item["iri"] if "iri" in item else None  # noqa: SIM401 (CompValue.get)
                if not isinstance(iri, URIRef):
                    raise LoadNotAllowedError("cannot decide which IRI a LOAD reads")
                found_loads.append(str(iri))
            stack.extend(item.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "algebra") and hasattr(item, "prologue"):
            stack.append(item.algebra)


def parsed_outbound(expanded: str, *, update: bool) -> Outbound:
    """SERVICE and LOAD IRIs per rdflib's parser and algebra (prefixes and BASE applied).

    ``expanded`` has its codepoint escapes expanded already; rdflib's own
    expansion is bypassed. Raises :class:`ServiceNotAllowedError` when the text
    does not parse. A pure function of the text: repeated texts (named queries)
    are answered from a small cache instead of two more rdflib parses.
    """
    found = _parsed_outbound(expanded, update)
    if isinstance(found, Exception):
        raise type(found)(*found.args)  # a fresh one: the cached one keeps no traceback
    return found


@functools.lru_cache(maxsize=512)
def _parsed_outbound(expanded: str, update: bool) -> Outbound | ServiceNotAllowedError:
    try:
        return _parse_outbound(expanded, update)
    except ServiceNotAllowedError as exc:  # a refusal is remembered too (rdflib is slow)
        return type(exc)(*exc.args)


def _parse_outbound(expanded: str, update: bool) -> Outbound:
    from rdflib.plugins.sparql import algebra, parser

    services: list[str | None] = []
    loads: list[str] = []
    with _RDFLIB_LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _RDFLIB_RECURSION))
        try:
            if update:
                tree = algebra.translateUpdate(
                    parser.UpdateUnit.parse_string(expanded, parse_all=True)[0])
                _walk(list(tree.algebra) if hasattr(tree, "algebra") else tree, services, loads)
            else:
                tree = algebra.translateQuery(parser.Query.parse_string(expanded, parse_all=True))
                _walk(tree.algebra, services, loads)
        except (ServiceNotAllowedError, LoadNotAllowedError):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure refuses: fail closed
            raise ServiceNotAllowedError(
                "a request that uses SERVICE or LOAD must be checked by a full parse, and "
                f"this one could not be parsed ({type(exc).__name__}); it is refused") from exc
        finally:
            sys.setrecursionlimit(limit)
    return Outbound(tuple(services), tuple(loads))


def _folded(text: str) -> str:
    # Non-ASCII letters whose upper case is ASCII (U+017F, U+0131) count too.
    return text.lower() if text.isascii() else text.upper().lower()


def may_fetch(expanded: str, *, update: bool) -> bool:
    """Whether the text could make the engine fetch anything (SERVICE, or LOAD in an update)."""
    low = _folded(expanded)
    return "service" in low or (update and "load" in low)


def load_allowlist(settings: Settings) -> frozenset[str]:
    """The IRIs ``LOAD`` may read: only what the operator configured (none by default)."""
    return frozenset(settings.load_allowlist)


def prepare(
    text: str,
    settings: Settings,
    *,
    update: bool,
    route: Callable[[str], str] | None = None,
    base_iri: str | None = None,
) -> str:
    """The exact text to hand the engine for a query or update (see the module doc).

    ``base_iri`` is the service-defined base (SPARQL 1.1 Protocol): it is written into
    the text as a ``BASE`` declaration of its own first line (:func:`with_base`), so the
    checks below, the engine, and a remote engine all resolve relative IRIs alike.

    Raises :class:`QueryTooDeepError` / :class:`AmbiguousEscapeError` (both
    :class:`SparqlSyntaxError`, 400) and :class:`ServiceNotAllowedError` /
    :class:`LoadNotAllowedError` (400).
    """
    expanded = with_base(expand_codepoints(text), base_iri)
    data = expanded.encode("utf-8", "surrogatepass")
    what = "update" if update else "query"
    check_nesting(data, what=what)
    check_chains(data, what=what)
    handoff = engine_safe(expanded)
    if not may_fetch(expanded, update=update):
        return handoff
    return engine_safe(_prepare_outbound(expanded, settings, update=update, route=route))


_BASE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20<>\"{}|^`\\]*")


def with_base(text: str, base_iri: str | None) -> str:
    """``text`` preceded by ``BASE <base_iri>`` on a line of its own (nothing without a base).

    A prologue may hold any number of BASE declarations, each resolved against the one
    before (SPARQL 1.1 §4.1.1.1), so the text's own BASE still wins, and a relative one is
    read against the service's. Raises :class:`SparqlSyntaxError` for a base that is not
    an absolute IRI (it could not be written into the text as one IRI).
    """
    if base_iri is None:
        return text
    if _BASE_IRI.fullmatch(base_iri) is None:
        raise SparqlSyntaxError(f"the base IRI {base_iri[:200]!r} is not an absolute IRI")
    return f"BASE <{base_iri}>\n{text}"


_POSITION = re.compile(r"^error at (\d+):(\d+)")


def without_base(exc: SparqlSyntaxError) -> SparqlSyntaxError:
    """A syntax error of a text :func:`with_base` prefixed, its position (``error at
    LINE:COLUMN``, as pyoxigraph writes it) given in the client's own text."""
    message = str(exc)
    found = _POSITION.match(message)
    if found is None or int(found.group(1)) < 2:
        return exc
    line = int(found.group(1)) - 1
    return type(exc)(f"error at {line}:{found.group(2)}" + message[found.end():])


def _prepare_outbound(expanded: str, settings: Settings, *, update: bool,
                      route: Callable[[str], str] | None) -> str:
    if len(expanded) > MAX_CHECKED_CHARS:
        raise ServiceNotAllowedError(
            f"a request that uses SERVICE or LOAD may be at most {MAX_CHECKED_CHARS} "
            "characters long")
    check_nesting(expanded, what="update" if update else "query", limit=MAX_CHECKED_DEPTH)
    mentions = _folded(expanded).count("service")  # an upper bound of the SERVICE clauses
    if mentions > MAX_SERVICES:
        raise ServiceNotAllowedError(f"at most {MAX_SERVICES} SERVICE clauses are accepted")
    if mentions > 1 and _nested_service(expanded):
        raise ServiceNotAllowedError("a SERVICE inside another SERVICE is not supported")
    authority = parsed_outbound(expanded, update=update)
    if any(s is None for s in authority.services):
        raise ServiceNotAllowedError(
            "SERVICE with a variable endpoint is not allowed: a SERVICE endpoint must be an "
            "IRI on the allowlist")
    refs = service_refs(expanded)
    loads = load_refs(expanded) if update else []
    _agree("SERVICE", [r.iri for r in refs], authority.services)
    _agree("LOAD", [r.iri for r in loads], authority.loads)

    allowed_loads = load_allowlist(settings)
    edits: list[tuple[int, int, str]] = []
    load_targets: list[str] = []
    for ref in loads:
        if ref.iri not in allowed_loads:
            raise LoadNotAllowedError(
                f"LOAD <{ref.iri}> is not allowed: LOAD reads only from IRIs the operator "
                "configured (KGRAPH_LOAD_ALLOWLIST)")
        # through the relay too: a deadline, a size bound, and redirects checked
        target = ref.iri if route is None else route(ref.iri)
        load_targets.append(target)
        edits.append((ref.start, ref.end, f"<{target}>"))
    plan = plan_services(expanded, settings, route=route, refs=refs)
    out = replace_spans(expanded, edits + plan.edits)

    check = parsed_outbound(out, update=update)
    if Counter(check.services) != Counter(plan.targets) or Counter(check.loads) != Counter(
            load_targets):
        raise ServiceNotAllowedError(
            "the rewritten request does not call exactly the endpoints that were allowed; "
            "it is refused")
    return out


def _nested_service(text: str) -> bool:
    """Whether a SERVICE keyword sits inside the group of another one (per the lexer)."""
    tokens = list(tokenize(text))
    for i, tok in enumerate(tokens):
        if not tok.is_word("SERVICE"):
            continue
        opened = False
        for inner in tokens[i + 1:]:
            if not opened:
                opened = inner.kind == "punct" and inner.text == "{"
            elif inner.depth <= tok.depth:
                break
            elif inner.is_word("SERVICE"):
                return True
    return False


def _agree(what: str, lexed: Iterable[str | None], parsed: Iterable[str | None]) -> None:
    if Counter(lexed) != Counter(parsed):
        raise ServiceNotAllowedError(
            f"cannot decide which {what} IRIs this request uses (a token scan and the parser "
            "disagree); it is refused")


__all__ = [
    "MAX_DEPTH", "AmbiguousEscapeError", "bracket_depth", "LoadNotAllowedError", "QueryTooDeepError",
    "ServiceNotAllowedError", "check_nesting", "engine_safe", "expand_codepoints", "nesting",
    "parsed_outbound", "prepare", "resolve_iri", "with_base", "without_base",
]
