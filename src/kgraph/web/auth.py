"""Write access: updates must be enabled and carry the configured bearer token."""

from __future__ import annotations

import hmac

from flask import request

from ..config import Settings
from ..sparql.protocol import ProtocolError


def require_write_access(settings: Settings) -> None:
    """Raise a 401/403 :class:`ProtocolError` unless this request may write."""
    if not settings.allow_update:
        raise ProtocolError(403, "writes are disabled on this endpoint (start it with --allow-update)")
    if not settings.token:
        raise ProtocolError(403, "writes need a token, and none is configured (set KGRAPH_TOKEN)")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ProtocolError(401, "writes need 'Authorization: Bearer <token>'",
                            {"WWW-Authenticate": 'Bearer realm="kgraph"'})
    if not hmac.compare_digest(given.strip().encode(), settings.token.encode()):
        raise ProtocolError(403, "the bearer token is not valid for writes",
                            {"WWW-Authenticate": 'Bearer realm="kgraph", error="invalid_token"'})
