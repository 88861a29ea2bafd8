"""Write access: updates must be enabled and carry the configured bearer token.

The token is compared with :func:`hmac.compare_digest` on digests of both sides,
so the time taken says nothing about the token's length or how much of it a
guess got right; and the answers do not say whether a token is configured at
all, only that writes need one.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import request

from ..config import Settings
from ..sparql.protocol import ProtocolError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kgraph"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="kgraph", error="invalid_token"'}


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(given: str, expected: str | None) -> bool:
    """Constant-time comparison of a presented token with the configured one (if any).

    Both sides are hashed first: equal-length inputs for ``compare_digest``, and the same
    work whether or not a token is configured.
    """
    ok = hmac.compare_digest(_digest(given), _digest(expected or ""))
    return ok and bool(expected)


def require_write_access(settings: Settings) -> None:
    """Raise a 401/403 :class:`ProtocolError` unless this request may write (411 for a
    body without a Content-Length)."""
    if not settings.allow_update:
        raise ProtocolError(403, "writes are disabled on this endpoint (start it with --allow-update)")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ProtocolError(401, "writes need 'Authorization: Bearer <token>'", _CHALLENGE)
    if not token_matches(given.strip(), settings.token):
        raise ProtocolError(403, "the bearer token is not valid for writes", _INVALID)
    if request.environ.get("kgraph.chunked") or request.headers.get("Transfer-Encoding"):
        # A write's body must say its length: with chunked framing the HTTP server may hand
        # the app a body the client never finished (granian does, measured), and half an
        # upload must never be stored. Content-Length lets the app tell (a short body: 400).
        raise ProtocolError(411, "a write must send its body with a Content-Length "
                                 "(Transfer-Encoding is not accepted for writes)")
