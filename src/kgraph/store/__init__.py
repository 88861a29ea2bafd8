"""Store engines behind one interface, chosen by name from a registry.

Like rdflib's plugin registry: an engine registers a factory under a name,
and callers ask for a store by name (default ``oxigraph``) and location, so
a new engine is a new module plus one ``register`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import (
    AskResult,
    DatasetSpec,
    EngineCrashError,
    GraphResult,
    QueryResult,
    QueryTimeoutError,
    RdfSyntaxError,
    SelectResult,
    SerializedResult,
    SparqlEvaluationError,
    SparqlSyntaxError,
    Store,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)

StoreFactory = Callable[..., Store]

_REGISTRY: dict[str, StoreFactory] = {}


def register(name: str, factory: StoreFactory) -> None:
    """Make an engine available to :func:`open_store` under ``name``."""
    _REGISTRY[name] = factory


def engines() -> list[str]:
    """Names of the registered engines."""
    return sorted(_REGISTRY)


def open_store(
    path: str | Path | None = None,
    engine: str = "oxigraph",
    *,
    union_default_graph: bool = True,
    **options: object,
) -> Store:
    """Open (or create) a store; ``path=None`` keeps it in memory.

    With ``union_default_graph`` (kgraph's default, as Fuseki's and Oxigraph's
    option of that name) a query that names no dataset sees all graphs merged.
    """
    try:
        factory = _REGISTRY[engine]
    except KeyError:
        raise StoreError(f"unknown store engine {engine!r}; known: {', '.join(engines())}") from None
    return factory(path, union_default_graph=union_default_graph, **options)


def open_configured(settings: Any, *, read_only: bool = False) -> Store:
    """The store ``settings`` name: the remote engine of ``store_url`` if one is set,
    else the embedded store at ``store_path`` (in memory when it is None). Command-line
    tools open their store through this, so ``--store URL`` means the same everywhere."""
    if getattr(settings, "store_url", None):
        from .remote import RemoteStore

        return RemoteStore.from_settings(settings, read_only=read_only)
    return open_store(settings.store_path, read_only=read_only)


def _oxigraph(path: str | Path | None, *, union_default_graph: bool = True,
              read_only: bool = False) -> Store:
    from .oxigraph import OxigraphStore

    return OxigraphStore(path, union_default_graph=union_default_graph, read_only=read_only)


register("oxigraph", _oxigraph)


def _sparql(url: str | Path | None, *, union_default_graph: bool = True,
            **options: object) -> Store:
    """``open_store(URL, engine="sparql", update_url=..., graph_store_url=..., profile=...)``."""
    from .remote import RemoteStore

    if url is None:
        raise StoreError("engine 'sparql' needs the URL of a SPARQL query endpoint")
    return RemoteStore(str(url), union_default_graph=union_default_graph, **options)  # type: ignore[arg-type]


register("sparql", _sparql)

__all__ = [
    "AskResult",
    "DatasetSpec",
    "EngineCrashError",
    "GraphResult",
    "QueryResult",
    "QueryTimeoutError",
    "RdfSyntaxError",
    "SelectResult",
    "SerializedResult",
    "SparqlEvaluationError",
    "SparqlSyntaxError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoreReadOnlyError",
    "engines",
    "open_store",
    "register",
]
