"""Shared fixtures: in-process apps over in-memory stores, and real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kgraph.config import Settings
from kgraph.store import open_store
from kgraph.web import create_app

from .browser import browser, page  # noqa: F401 - one browser per session for every module
from .support import TOKEN, ServerProcess


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Writable in-memory settings with an empty queries folder of the test's own."""
    queries = tmp_path / "queries"
    queries.mkdir()
    return Settings(store_path=None, allow_update=True, token=TOKEN, queries_dir=queries,
                    bootstrap=False)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, open_store(None))


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture(scope="session")
def kb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server over a fresh store, bootstrapped with the article's knowledge base."""
    server = ServerProcess(tmp_path_factory.mktemp("kb") / "store", ["--allow-update"]).start()
    yield server
    server.stop()
