"""The service's own IRIs: the base IRI of queries and updates, and new graphs' names.

The SPARQL 1.1 Protocol lets a service define the base IRI relative IRIs in a query or
update resolve against; kgraph's is the URL of the endpoint the request was sent to
(``<root>/sparql``). ``<root>`` is ``Settings.public_url`` when configured (behind a
proxy: the URL clients use), else the request's own scheme, ``Host`` header and script
root, as the WSGI server saw them. ``X-Forwarded-*`` headers are not trusted: configure
``KGRAPH_PUBLIC_URL`` instead. The base is part of the answer cache's key, so an answer
computed for one base is never served for another.

A graph created by ``POST /store`` (the Graph Store protocol's "graph store" resource)
is named ``<root>/store/<uuid>``: an IRI in the service's namespace that
``GET /store?graph=<IRI>`` finds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..config import Settings

#: An absolute IRI that can be written between ``<`` and ``>`` (SPARQL's IRIREF).
_IRIREF = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\x00-\x20<>\"{}|^`\\]*")

SPARQL_PATH = "/sparql"
STORE_PATH = "/store"


def service_root(settings: Settings, environ: Mapping[str, Any]) -> str | None:
    """The service's root URL, without a trailing ``/``; ``None`` when the request's Host
    header does not make an IRI (then relative IRIs have no base, as without this)."""
    if settings.public_url:
        root = settings.public_url.rstrip("/")
    else:
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST")
        if not host:
            host = environ.get("SERVER_NAME", "localhost")
            port = str(environ.get("SERVER_PORT", ""))
            if port and port != {"http": "80", "https": "443"}.get(scheme):
                host = f"{host}:{port}"
        root = f"{scheme}://{host}{quote(environ.get('SCRIPT_NAME', ''), safe='/')}".rstrip("/")
    return root if _IRIREF.fullmatch(root) else None


def query_base(settings: Settings, environ: Mapping[str, Any]) -> str | None:
    """The base IRI of a query or update sent to ``/sparql``: the endpoint's URL."""
    root = service_root(settings, environ)
    return None if root is None else root + SPARQL_PATH


def new_graph_iri(settings: Settings, environ: Mapping[str, Any]) -> str | None:
    """A fresh graph IRI under the service's namespace (``<root>/store/<uuid>``)."""
    root = service_root(settings, environ)
    return None if root is None else f"{root}{STORE_PATH}/{uuid.uuid4()}"
