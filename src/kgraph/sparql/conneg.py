"""HTTP content negotiation (RFC 9110 §12.5.1) for SPARQL results and RDF.

Each kind of answer offers a list of media types with the serializer behind
each; the Accept header picks one by q-value and specificity, and a
``format`` parameter (short name or media type) overrides Accept, as in
Fuseki and the Wikidata Query Service.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float
    params: tuple[tuple[str, str], ...]

    @property
    def specificity(self) -> int:
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 2 + len(self.params)

    def matches(self, media_type: str) -> bool:
        t, _, s = media_type.partition("/")
        return (self.type in ("*", t)) and (self.subtype in ("*", s))


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header; an absent or empty header accepts anything."""
    if not header or not header.strip():
        return [MediaRange("*", "*", 1.0, ())]
    ranges: list[MediaRange] = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        fields = [f.strip() for f in part.split(";")]
        mtype = fields[0].lower()
        if mtype == "*":
            mtype = "*/*"
        if "/" not in mtype:
            continue
        t, _, s = mtype.partition("/")
        q = 1.0
        params: list[tuple[str, str]] = []
        for f in fields[1:]:
            k, _, v = f.partition("=")
            k = k.strip().lower()
            v = v.strip().strip('"')
            if k == "q":
                try:
                    q = max(0.0, min(1.0, float(v)))
                except ValueError:
                    q = 0.0
            elif k:
                params.append((k, v))
        ranges.append(MediaRange(t, s, q, tuple(params)))
    return ranges


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type the client prefers, or ``None`` (-> 406).

    For each offer the most specific matching range sets its quality; ties
    go to the server's order of preference (the order of ``offered``).
    Clients send the same few Accept headers over and over, so answers are cached.
    """
    return _negotiate(accept, tuple(offered))


@functools.lru_cache(maxsize=1024)
def _negotiate(accept: str | None, offered: tuple[str, ...]) -> str | None:
    ranges = parse_accept(accept)
    best: str | None = None
    best_q = 0.0
    for media_type in offered:
        matching = [r for r in ranges if r.matches(media_type)]
        if not matching:
            continue
        top = max(matching, key=lambda r: r.specificity)
        q = top.q
        if q > best_q:
            best, best_q = media_type, q
    return best


def accepts_html(accept: str | None) -> bool:
    """Whether a client explicitly lists HTML (a browser), not merely ``*/*``."""
    return any(r.type == "text" and r.subtype == "html" and r.q > 0 for r in parse_accept(accept)
               if accept)
