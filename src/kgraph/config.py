"""Settings, read once from the command line and the environment.

One frozen object is built at start and handed to the app factory; nothing
else reads the environment (but :mod:`kgraph.resources`, for ``KGRAPH_DATA_DIR``, where
the default folders below come from), so a test can build any configuration it needs.
It is the one source of the paths kgraph reads: the ontology, rules, shapes, named
queries and knowledge base folders are its fields and properties.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from . import resources
from .namespaces import WIKIDATA_ENDPOINT


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_url(name: str) -> str | None:
    """An absolute http(s) URL from the environment (no query, no fragment, no trailing
    ``/``); a malformed one is refused at start rather than ignored at every request."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.netloc or parts.query
            or parts.fragment or any(c in value for c in ' <>"{}|^`\\')):
        raise ValueError(f"{name} must be an absolute http(s) URL without query or fragment, "
                         f"got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Everything that can be configured about a kgraph instance."""

    #: Store directory; ``None`` keeps the store in memory (tests).
    store_path: Path | None = None
    #: A remote engine's SPARQL query endpoint (http/https); when set, ``store_path`` is unused.
    store_url: str | None = None
    #: The remote engine's SPARQL Update endpoint (default: ``store_url``).
    update_url: str | None = None
    #: The remote engine's Graph Store Protocol endpoint (default: writes go through Update).
    graph_store_url: str | None = None
    #: How the remote engine gives the union default graph: ``auto`` or a profile name
    #: (``oxigraph``, ``virtuoso``, ``fuseki``, ``graphdb``, ``stardog``, ``neptune``,
    #: ``qlever``, ``generic``); see kgraph.store.remote.
    store_profile: str = "auto"
    #: Credentials for the remote engine: scheme ``basic``, ``digest`` or ``bearer``
    #: (``KGRAPH_STORE_AUTH``), user and password or token (``KGRAPH_STORE_USER``,
    #: ``KGRAPH_STORE_PASSWORD``, ``KGRAPH_STORE_TOKEN``). Never logged.
    store_auth: str | None = None
    store_user: str | None = None
    store_password: str | None = field(default=None, repr=False)
    store_token: str | None = field(default=None, repr=False)
    #: Where the processes of one server share the store's version counter (set by the
    #: supervisor for a remote engine, so that a write through any worker invalidates
    #: every worker's answer cache).
    version_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    #: SPARQL Update and Graph Store writes are refused unless enabled *and* authorised.
    allow_update: bool = False
    #: Bearer token that writes must carry; with updates enabled and no token, writes are refused.
    token: str | None = None
    #: Folders whose content is loaded into an empty store on start and served: the
    #: package's own copy, or that of ``KGRAPH_DATA_DIR`` (see kgraph.resources).
    ontology_dir: Path = field(default_factory=resources.ontology_dir)
    data_dir: Path = field(default_factory=resources.data_dir)
    queries_dir: Path = field(default_factory=resources.queries_dir)
    #: Load the ontology and the knowledge base on start when the store lacks them.
    bootstrap: bool = True
    #: How ``SERVICE <https://query.wikidata.org/sparql>`` is answered: ``live``, ``snapshot`` or an endpoint URL.
    wikidata: str = "snapshot"
    #: SERVICE endpoints a query may call (the Wikidata endpoint is always allowed).
    service_allowlist: tuple[str, ...] = ()
    #: Documents ``LOAD <url>`` may fetch (exact IRIs; none by default).
    load_allowlist: tuple[str, ...] = ()
    #: Extra SERVICE IRI -> URL rewrites (local stand-ins for remote endpoints).
    service_map: dict[str, str] = field(default_factory=dict)
    wikidata_endpoint: str = WIKIDATA_ENDPOINT
    #: Request limits.
    max_body_bytes: int = 64 * 1024 * 1024
    #: Longest query or update text accepted (413 beyond).
    max_query_bytes: int = 1024 * 1024
    #: Most rows (SELECT) or triples (CONSTRUCT/DESCRIBE) in one answer; the answer is cut beyond.
    max_result_rows: int = 10_000_000
    #: Time limit of one query or update: the work is stopped and 503 answered.
    query_timeout_s: float = 30.0
    #: HTTP worker processes (0: one per core).
    workers: int = 0
    #: Requests evaluated at once per worker process (query worker processes each).
    threads: int = 4
    #: Requests that may wait for a free slot per worker process; beyond, 503 with Retry-After.
    max_queue: int = 64
    #: Longest wait for a free slot before 503.
    queue_timeout_s: float = 10.0
    #: Answers kept per worker process for repeated queries (0: no cache), and their
    #: largest size; ``Cache-Control: max-age`` for clients.
    cache_entries: int = 512
    cache_max_bytes: int = 1024 * 1024
    cache_max_age_s: int = 0
    #: CORS: origins allowed to call the endpoint from a browser.
    cors_origins: str = "*"
    #: The URL clients reach the service at (behind a proxy); the base IRI of queries and the
    #: namespace of graphs the Graph Store mints. ``None``: the request's own URL (Host header).
    public_url: str | None = None

    @property
    def rules_dir(self) -> Path:
        """The reasoning rules (a folder of rule sets, kgraph.reasoning.rules)."""
        return self.ontology_dir / "rules"

    @property
    def shapes_path(self) -> Path:
        """The SHACL shapes facts files are validated against."""
        return self.ontology_dir / "shapes.ttl"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``KGRAPH_*`` environment variables, then ``overrides``."""
        env = os.environ
        store = env.get("KGRAPH_STORE")
        settings = cls(
            store_path=Path(store) if store else Path.cwd() / "var" / "store",
            allow_update=_env_bool("KGRAPH_ALLOW_UPDATE", False),
            token=env.get("KGRAPH_TOKEN") or None,
            wikidata=env.get("KGRAPH_WIKIDATA", "snapshot"),
            service_allowlist=tuple(env.get("KGRAPH_SERVICE_ALLOWLIST", "").split()),
            load_allowlist=tuple(env.get("KGRAPH_LOAD_ALLOWLIST", "").split()),
            store_url=env.get("KGRAPH_STORE_URL") or None,
            update_url=env.get("KGRAPH_UPDATE_URL") or None,
            graph_store_url=env.get("KGRAPH_GRAPH_STORE_URL") or None,
            store_profile=env.get("KGRAPH_STORE_PROFILE", "auto"),
            store_auth=env.get("KGRAPH_STORE_AUTH") or None,
            store_user=env.get("KGRAPH_STORE_USER") or None,
            store_password=env.get("KGRAPH_STORE_PASSWORD") or None,
            store_token=env.get("KGRAPH_STORE_TOKEN") or None,
            query_timeout_s=float(env.get("KGRAPH_QUERY_TIMEOUT", "30")),
            workers=int(env.get("KGRAPH_WORKERS", "0")),
            threads=int(env.get("KGRAPH_THREADS", "4")),
            cors_origins=env.get("KGRAPH_CORS_ORIGINS", "*"),
            public_url=_env_url("KGRAPH_PUBLIC_URL"),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        settings = replace(settings, **clean)  # type: ignore[arg-type]
        # ``KGRAPH_STORE`` (or a ``store_path`` given here) may name a remote engine or
        # ``:memory:``, as ``--store`` does: never a folder called ``http:`` in the cwd.
        where = str(settings.store_path) if settings.store_path is not None else ""
        if where == ":memory:":
            settings = replace(settings, store_path=None)
        elif where.startswith(("http:/", "https:/")):
            url = where if "://" in where else where.replace(":/", "://", 1)
            settings = replace(settings, store_path=None, store_url=settings.store_url or url)
        return settings
