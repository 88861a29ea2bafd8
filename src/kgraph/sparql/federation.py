"""``SERVICE`` clauses: which endpoints a query may call, and where the call goes.

kgraph lets a query join its graphs with Wikidata through
``SERVICE <https://query.wikidata.org/sparql> { ... }``. The same query text
must work online and offline, so before the engine sees it the clause is
rewritten according to ``Settings.wikidata`` (``KGRAPH_WIKIDATA``):

``snapshot``
    ``SERVICE [SILENT] <wikidata> { P }`` becomes
    ``GRAPH <https://w3id.org/kgraph/graph/wikidata> { P }``: ``P`` is matched
    against the offline snapshot loaded into that named graph.
``live``
    Wikidata itself is called.
an ``http(s)://`` URL
    That URL is called instead (a local stand-in or a mirror).

Remote calls are made by the engine. Given a ``route`` (the endpoint passes
:meth:`kgraph.sparql.relay.ServiceRelay.url_for`), every remote SERVICE IRI is
replaced by the loopback URL that relays it, so that the call goes out with
kgraph's User-Agent and a deadline; without one the engine calls the target
directly.

``Settings.service_map`` rewrites other SERVICE IRIs to URLs the same way (the
W3C federation tests use it to point at local stand-ins). Any other endpoint,
and ``SERVICE ?var``, is refused: a public endpoint must not be able to make the
server issue arbitrary outbound requests. See ``docs/wikidata.md`` for the
semantic differences between the modes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kgraph.config import Settings
from kgraph.lexer import ServiceRef, replace_spans, service_refs, tokenize
from kgraph.namespaces import GRAPH_WIKIDATA, WIKIDATA_ENDPOINT

SNAPSHOT = "snapshot"
LIVE = "live"


class ServiceNotAllowedError(ValueError):
    """A query calls a SERVICE endpoint that is not allowed (HTTP 400)."""


def wikidata_mode(settings: Settings) -> str:
    """The normalised Wikidata mode: ``snapshot``, ``live`` or an endpoint URL.

    Raises ``ValueError`` for anything else, so a typo in ``KGRAPH_WIKIDATA``
    fails loudly instead of silently querying the wrong place.
    """
    mode = (settings.wikidata or SNAPSHOT).strip()
    if mode.lower() in (SNAPSHOT, LIVE):
        return mode.lower()
    if mode.startswith(("http://", "https://")):
        return mode
    raise ValueError(f"KGRAPH_WIKIDATA must be 'snapshot', 'live' or an http(s) URL, not {mode!r}")


def wikidata_iris(settings: Settings) -> frozenset[str]:
    """The SERVICE IRIs that mean "Wikidata" (rewritten per the Wikidata mode)."""
    return frozenset({WIKIDATA_ENDPOINT, settings.wikidata_endpoint})


def allowed_services(settings: Settings) -> frozenset[str]:
    """Every SERVICE IRI a query may name."""
    return (
        frozenset(settings.service_allowlist)
        | wikidata_iris(settings)
        | frozenset(settings.service_map)
    )


def _body_has_graph(sparql: str, after: int) -> bool:
    """Whether the group that follows offset ``after`` (a SERVICE body) contains GRAPH."""
    depth = None
    for tok in tokenize(sparql[after:]):
        if tok.kind == "punct" and tok.text == "{":
            depth = tok.depth + 1 if depth is None else depth
        elif tok.kind == "punct" and tok.text == "}" and depth is not None and tok.depth < depth:
            return False
        elif depth is not None and tok.is_word("GRAPH"):
            return True
    return False


@dataclass(frozen=True)
class ServicePlan:
    """The span edits that carry out the SERVICE policy, and the endpoints the edited
    text then calls (relay URLs, or the targets themselves without a relay)."""

    edits: list[tuple[int, int, str]]
    targets: list[str]


def plan_services(
    sparql: str,
    settings: Settings,
    route: Callable[[str], str] | None = None,
    refs: Sequence[ServiceRef] | None = None,
) -> ServicePlan:
    """Decide every SERVICE clause of ``sparql`` (see :func:`prepare_services`).

    ``refs`` are the clauses as :func:`kgraph.lexer.service_refs` finds
    them (the guard passes the ones it checked against a parser). Every remote
    endpoint is written back as the absolute IRI to call, so that neither a
    prefix nor BASE is left for the engine to resolve differently.
    """
    refs = service_refs(sparql) if refs is None else refs
    edits: list[tuple[int, int, str]] = []
    targets: list[str] = []
    if not refs:
        return ServicePlan(edits, targets)
    allowed = allowed_services(settings)
    wikidata = wikidata_iris(settings)
    mode = wikidata_mode(settings)
    for ref in refs:
        if ref.variable is not None:
            raise ServiceNotAllowedError(
                f"SERVICE ?{ref.variable} is not allowed: a SERVICE endpoint must be an IRI "
                f"on the allowlist ({', '.join(sorted(allowed))})"
            )
        if ref.iri is None:
            raise ServiceNotAllowedError(
                f"SERVICE endpoint uses an undeclared prefix: {sparql[ref.start : ref.end]!r}"
            )
        if ref.iri not in allowed:
            raise ServiceNotAllowedError(
                f"SERVICE <{ref.iri}> is not allowed; allowed endpoints: "
                f"{', '.join(sorted(allowed))} (set KGRAPH_SERVICE_ALLOWLIST to add one)"
            )
        if ref.iri in wikidata:
            if mode == SNAPSHOT and _body_has_graph(sparql, ref.end):
                # Inside GRAPH <snapshot>, a GRAPH clause would reach every local graph;
                # Wikidata's endpoint has no named graphs to offer anyway.
                raise ServiceNotAllowedError(
                    "GRAPH inside SERVICE <https://query.wikidata.org/sparql> cannot be answered "
                    "from the snapshot (the Wikidata endpoint has no named graphs)"
                )
            if mode == SNAPSHOT:
                # SILENT goes too: a local graph cannot fail the way a remote call can.
                edits.append((ref.keyword_start, ref.end, f"GRAPH <{GRAPH_WIKIDATA}>"))
                continue
            target = ref.iri if mode == LIVE else mode
        else:
            target = settings.service_map.get(ref.iri, ref.iri)
        if route is not None:
            target = route(target)
        targets.append(target)
        if sparql[ref.start : ref.end] != f"<{target}>":
            edits.append((ref.start, ref.end, f"<{target}>"))
    return ServicePlan(edits, targets)


def configured_targets(settings: Settings) -> frozenset[str]:
    """Endpoints and LOAD sources the operator named (trusted as configured; where they
    redirect to is not)."""
    mode = wikidata_mode(settings)
    named = (set(settings.service_allowlist) | set(settings.service_map.values())
             | set(settings.load_allowlist))
    if mode not in (SNAPSHOT, LIVE):
        named.add(mode)
    return frozenset(named)


def prepare_services(
    sparql: str, settings: Settings, route: Callable[[str], str] | None = None
) -> str:
    """Return the query/update text with SERVICE clauses rewritten per ``settings``.

    ``route`` maps a remote endpoint's URL to the URL the engine should call
    (the SERVICE relay); without it the engine calls the endpoint itself.
    This is the token-level rewrite only: requests from clients go through
    :func:`kgraph.sparql.guard.prepare`, which also expands codepoint escapes
    and checks the result against a parser.

    Raises :class:`ServiceNotAllowedError` for an endpoint not on the allowlist
    (``settings.service_allowlist`` + ``settings.wikidata_endpoint`` + the keys
    of ``settings.service_map``), for ``SERVICE ?var`` and for a prefixed name
    whose prefix is not declared.
    """
    return replace_spans(sparql, plan_services(sparql, settings, route).edits)
