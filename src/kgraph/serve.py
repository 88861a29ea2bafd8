"""Serving kgraph: ``kgraph serve`` and ``python server.py``.

The processes of ``python server.py --store DIR`` (see docs/store.md, "Serving"):

* this process, the **supervisor**: starts the writer, waits until it has
  bootstrapped the store and published the first snapshot, then runs granian,
  and on SIGTERM/SIGINT stops everything. It restarts the writer if it dies.
* the **writer** (:mod:`kgraph.store.writer`): the only process that opens the
  store read-write; applies writes one at a time and publishes a snapshot
  after each, before acknowledging.
* **granian workers** (``settings.workers``, default one per core), each a
  Flask app over a :class:`~kgraph.store.pool.PooledStore`;
* **query executors** (``settings.threads`` query slots per worker, in processes of
  ``KGRAPH_EXECUTOR_THREADS`` threads, default 4): processes that answer queries from
  the newest snapshot and are killed at the time limit.

Every child asks the kernel to kill it when its parent dies, so no process
outlives the server, even after ``kill -9``.

With ``--store URL`` (a remote SPARQL engine) there is no writer and no
executor: the supervisor bootstraps through the remote engine once, and each
granian worker opens its own :class:`~kgraph.store.remote.RemoteStore`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import Settings
from .store import Store, StoreError
from .store.writer import (
    ENV_SETTINGS,
    WriterProcess,
    die_with_parent,
    settings_from_json,
    settings_to_json,
)

log = logging.getLogger("kgraph.serve")

#: Extra request slots granian may hand a worker beyond its executors: the requests that
#: wait in PooledStore's queue (beyond them granian holds connections itself).
_MAX_WAITING_THREADS = 64


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 picks a free one)")
    parser.add_argument("--store", metavar="PATH|URL",
                        help="store directory (env KGRAPH_STORE; default ./var/store); ':memory:' "
                             "for a throwaway store in RAM; an http(s) URL for a remote SPARQL "
                             "engine's query endpoint (env KGRAPH_STORE_URL)")
    parser.add_argument("--update-endpoint", metavar="URL",
                        help="the remote engine's SPARQL Update endpoint (env KGRAPH_UPDATE_URL)")
    parser.add_argument("--graph-store", metavar="URL",
                        help="the remote engine's Graph Store endpoint (env KGRAPH_GRAPH_STORE_URL)")
    parser.add_argument("--allow-update", action="store_true", default=None,
                        help="accept SPARQL Update and Graph Store writes carrying the KGRAPH_TOKEN bearer token")
    parser.add_argument("--no-bootstrap", action="store_true",
                        help="do not load the ontology and knowledge base into an empty store")
    parser.add_argument("--workers", type=int,
                        help="HTTP worker processes (env KGRAPH_WORKERS; default one per core)")
    parser.add_argument("--threads", type=int,
                        help="queries evaluated at once per worker, in query processes of "
                             "KGRAPH_EXECUTOR_THREADS threads each (default 4: one process) "
                             "(env KGRAPH_THREADS; default 4)")
    parser.add_argument("--max-queue", type=int,
                        help="requests that may wait for a query process per worker (default 64); "
                             "beyond, 503 with Retry-After")
    parser.add_argument("--queue-timeout", type=float, metavar="S",
                        help="longest wait for a query process before 503 (default 10 s)")
    parser.add_argument("--query-timeout", type=float, metavar="S",
                        help="time limit of a query or update: the work is stopped and 503 "
                             "answered (env KGRAPH_QUERY_TIMEOUT; default 30 s)")
    parser.add_argument("--wikidata", help="SERVICE <wikidata>: live, snapshot or an endpoint URL")


def settings_from_args(args: argparse.Namespace) -> Settings:
    store = args.store
    overrides: dict[str, Any] = {
        "host": args.host, "port": args.port, "allow_update": args.allow_update,
        "threads": args.threads, "workers": args.workers, "wikidata": args.wikidata,
        "bootstrap": not args.no_bootstrap, "update_url": args.update_endpoint,
        "graph_store_url": args.graph_store, "query_timeout_s": args.query_timeout,
        "max_queue": args.max_queue, "queue_timeout_s": args.queue_timeout,
    }
    if store and store.startswith(("http://", "https://")):
        overrides["store_url"] = store
    elif store and store != ":memory:":
        overrides["store_path"] = Path(store)
    settings = Settings.from_env(**overrides)
    if store == ":memory:":
        settings = replace(settings, store_path=None, store_url=None)
    elif store:
        settings = replace(settings, store_url=overrides.get("store_url"))
    return settings


# -- granian workers -------------------------------------------------------------------
def worker_app() -> Any:
    """The app factory granian calls in each worker process."""
    settings = settings_from_json(os.environ[ENV_SETTINGS])
    die_with_parent(int(os.environ.get("KGRAPH_SERVE_PARENT", "0")) or None)
    from .web import create_app
    from .web.logs import configure_logging

    configure_logging()  # one JSON object per line on stderr

    store: Store
    if settings.store_url:
        store = _remote_store(settings)
    else:
        from .store.pool import PooledStore

        store = PooledStore.from_env(settings)
    return create_app(settings, store)


def _remote_store(settings: Settings) -> Store:
    try:
        from .store.remote import RemoteStore
    except ImportError as exc:
        raise StoreError("this kgraph has no remote engine support (kgraph.store.remote "
                         f"is missing): {exc}") from exc
    return RemoteStore.from_settings(settings)  # type: ignore[no-any-return]


# -- the supervisor --------------------------------------------------------------------
def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _announce_when_listening(host: str, port: int, stop: threading.Event) -> None:
    """Print the machine-readable first stdout line once a worker answers HTTP (not just
    once the port accepts connections: a client that reads the line may send at once)."""
    import http.client

    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    while not stop.is_set():
        conn = http.client.HTTPConnection(target, port, timeout=60)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            break
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()
    else:
        return
    shown = f"[{host}]" if ":" in host else host
    print(f"kgraph listening on http://{shown}:{port}/sparql", flush=True)


def _granian_logging() -> dict[str, Any]:
    """granian logs to stderr: stdout's first line is kgraph's address."""
    return {
        "handlers": {
            "console": {"formatter": "generic", "class": "logging.StreamHandler",
                        "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "logging.StreamHandler",
                       "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "WARNING", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "WARNING", "propagate": False},
        },
    }


def _granian_options() -> dict[str, Any]:
    """Extra granian options from ``KGRAPH_GRANIAN`` (a JSON object, e.g. ``{"http": "1",
    "runtime_mode": "st"}``): for measuring the serving model (``bench/ab.py``)."""
    import json

    from granian.constants import HTTPModes, RuntimeModes

    raw = json.loads(os.environ.get("KGRAPH_GRANIAN") or "{}")
    kinds = {"http": HTTPModes, "runtime_mode": RuntimeModes}
    return {k: kinds[k](v) if k in kinds else v for k, v in raw.items()}


def _serve_granian(settings: Settings, env: dict[str, str]) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    workers = settings.workers or os.cpu_count() or 1
    slots = settings.threads + min(settings.max_queue, _MAX_WAITING_THREADS) + 1
    os.environ.update(env)
    if os.environ.get("KGRAPH_WORKER_MALLOC", "auto") != "system":
        from .store.pool import malloc_env  # workers answer cheap queries with the engine too

        os.environ.update(malloc_env())
    os.environ[ENV_SETTINGS] = settings_to_json(settings)
    os.environ["KGRAPH_SERVE_PARENT"] = str(os.getpid())
    # One id per server run: every worker gives one answer the same ETag (a revalidation
    # may reach another worker), and a restart never revives an old ETag.
    os.environ["KGRAPH_BOOT_ID"] = uuid.uuid4().hex
    # Spawned, not forked: a worker inherits no thread, lock or pipe of this process.
    multiprocessing.set_start_method("spawn", force=True)
    stop = threading.Event()
    threading.Thread(target=_announce_when_listening, args=(settings.host, settings.port, stop),
                     daemon=True).start()
    options: dict[str, Any] = {"blocking_threads": slots, "backpressure": slots,
                               **_granian_options()}
    server = Granian(
        "kgraph.serve:worker_app", factory=True, interface=Interfaces.WSGI,
        address=settings.host, port=settings.port, workers=workers,
        respawn_failed_workers=True, respawn_interval=0.5, workers_kill_timeout=10,
        log_dictconfig=_granian_logging(), **options,
    )
    try:
        server.serve()
    finally:
        stop.set()


def run(settings: Settings) -> int:
    """Start the writer (or check the remote engine), then serve until interrupted."""
    from .bootstrap import check_resources
    from .resources import ResourceError

    try:  # a package without its data, or a KGRAPH_DATA_DIR that lacks a folder, is refused
        check_resources(settings)
    except ResourceError as exc:
        print(f"kgraph: {exc}", file=sys.stderr)
        return 1
    if settings.port == 0:
        settings = replace(settings, port=_free_port(settings.host))
    if settings.store_url:
        return _run_remote(settings)
    scratch: Path | None = None
    store_dir = settings.store_path
    if store_dir is None:  # --store :memory: - the same model over a store in RAM
        scratch = _memory_dir()
        store_dir = scratch / "store"
    writer = WriterProcess(settings, store_dir)
    # Until granian installs its own handlers: SIGTERM unwinds, so the writer and a
    # :memory: store are cleaned up even when it comes during start-up.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        try:
            writer.start(bootstrap=settings.bootstrap)
        except StoreError as exc:
            print(f"kgraph: {exc}", file=sys.stderr)
            return 1
        writer.watch()
        log.info("store: %s; updates %s; %d query processes per worker",
                 settings.store_path or "memory",
                 "enabled" if settings.allow_update else "disabled", settings.threads)
        with contextlib.suppress(KeyboardInterrupt):
            _serve_granian(settings, writer.env())
    finally:
        writer.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _exit_on_signal(signo: int, _frame: object) -> None:
    raise SystemExit(128 + signo)


def _memory_dir() -> Path:
    """A fresh folder in RAM (``/dev/shm``) for ``--store :memory:``; folders left by
    servers that were killed (``kill -9`` leaves no chance to clean up) are removed."""
    shm = Path("/dev/shm") if os.path.isdir("/dev/shm") else Path(tempfile.gettempdir())
    for old in shm.glob("kgraph-memory-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"kgraph-memory-{os.getpid()}-", dir=shm))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_remote(settings: Settings) -> int:
    try:
        store = _remote_store(settings)
        if settings.bootstrap:
            from .bootstrap import ensure_loaded

            ensure_loaded(store, settings)
        store.close()
    except StoreError as exc:
        print(f"kgraph: {exc}", file=sys.stderr)
        return 1
    # The workers share one write counter, so that a write through any of them
    # invalidates every worker's answer cache before it is acknowledged.
    shared = Path(tempfile.mkdtemp(prefix="kgraph-versions-"))
    try:
        from .store.snapshots import VersionCounter

        VersionCounter(shared, writable=True).close()  # created once, before any worker
        with contextlib.suppress(KeyboardInterrupt):
            _serve_granian(replace(settings, version_dir=shared), {})
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``server.py``."""
    parser = argparse.ArgumentParser(prog="server.py", description="Serve the kgraph SPARQL endpoint")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    from .web.logs import configure_logging

    configure_logging()
    return run(settings_from_args(args))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="serve the SPARQL endpoint")
    add_serve_arguments(serve)
    serve.set_defaults(func=lambda args: run(settings_from_args(args)))
