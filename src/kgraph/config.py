"""Settings, read once from the command line and the environment.

One frozen object is built at start and handed to the app factory; nothing
else reads the environment, so a test can build any configuration it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .namespaces import WIKIDATA_ENDPOINT

#: The project root when running from a checkout (``src/kgraph/`` -> repo).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything that can be configured about a kgraph instance."""

    #: Store directory; ``None`` keeps the store in memory (tests).
    store_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    #: SPARQL Update and Graph Store writes are refused unless enabled *and* authorised.
    allow_update: bool = False
    #: Bearer token that writes must carry; with updates enabled and no token, writes are refused.
    token: str | None = None
    #: Folders whose content is loaded into an empty store on start.
    ontology_dir: Path = PROJECT_ROOT / "ontology"
    data_dir: Path = PROJECT_ROOT / "data"
    queries_dir: Path = PROJECT_ROOT / "queries"
    #: Load the ontology and the knowledge base on start when the store lacks them.
    bootstrap: bool = True
    #: How ``SERVICE <https://query.wikidata.org/sparql>`` is answered: ``live``, ``snapshot`` or an endpoint URL.
    wikidata: str = "snapshot"
    #: SERVICE endpoints a query may call (the Wikidata endpoint is always allowed).
    service_allowlist: tuple[str, ...] = ()
    #: Extra SERVICE IRI -> URL rewrites (local stand-ins for remote endpoints).
    service_map: dict[str, str] = field(default_factory=dict)
    wikidata_endpoint: str = WIKIDATA_ENDPOINT
    #: Request limits.
    max_body_bytes: int = 64 * 1024 * 1024
    query_timeout_s: float = 60.0
    #: waitress worker threads: concurrent readers each get one.
    threads: int = 8
    #: CORS: origins allowed to call the endpoint from a browser.
    cors_origins: str = "*"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``KGRAPH_*`` environment variables, then ``overrides``."""
        env = os.environ
        store = env.get("KGRAPH_STORE")
        settings = cls(
            store_path=Path(store) if store else PROJECT_ROOT / "var" / "store",
            allow_update=_env_bool("KGRAPH_ALLOW_UPDATE", False),
            token=env.get("KGRAPH_TOKEN") or None,
            wikidata=env.get("KGRAPH_WIKIDATA", "snapshot"),
            service_allowlist=tuple(env.get("KGRAPH_SERVICE_ALLOWLIST", "").split()),
            query_timeout_s=float(env.get("KGRAPH_QUERY_TIMEOUT", "60")),
            threads=int(env.get("KGRAPH_THREADS", "8")),
            cors_origins=env.get("KGRAPH_CORS_ORIGINS", "*"),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean)  # type: ignore[arg-type]
