"""How kgraph behaves as a client of other servers (Wikidata, SERVICE endpoints).

Wikimedia's User-Agent policy asks every client for a name, a version and a way
to reach its operator, and every polite client waits as long as ``Retry-After``
says. The linker and the SERVICE relay share these two rules.
"""

from __future__ import annotations

import email.utils
import os
import platform
from datetime import UTC, datetime

from kgraph import __version__

#: Contact for the User-Agent; override with ``KGRAPH_CONTACT`` (an e-mail or URL).
DEFAULT_CONTACT = "https://w3id.org/kgraph"


def user_agent(purpose: str, client: str, contact: str | None = None) -> str:
    """``kgraph/<version> (<contact>; <purpose>) <client> Python/<version>``."""
    contact = contact or os.environ.get("KGRAPH_CONTACT") or DEFAULT_CONTACT
    return (f"kgraph/{__version__} ({contact}; {purpose}) {client} "
            f"Python/{platform.python_version()}")


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
