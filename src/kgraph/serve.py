"""Serving kgraph: ``kgraph serve`` and ``python server.py``.

The app runs under waitress, a production WSGI server with a thread pool:
pyoxigraph releases the GIL while it evaluates, so concurrent readers run in
parallel in one process, and the one process owns the on-disk store (RocksDB
allows a single writer process). Flask's development server is never used.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .bootstrap import ensure_loaded
from .config import Settings
from .store import StoreError, open_store
from .web import create_app

log = logging.getLogger("kgraph.serve")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 picks a free one)")
    parser.add_argument("--store", metavar="PATH",
                        help="store directory (env KGRAPH_STORE; default ./var/store); ':memory:' for RAM")
    parser.add_argument("--allow-update", action="store_true", default=None,
                        help="accept SPARQL Update and Graph Store writes carrying the KGRAPH_TOKEN bearer token")
    parser.add_argument("--no-bootstrap", action="store_true",
                        help="do not load the ontology and knowledge base into an empty store")
    parser.add_argument("--threads", type=int, help="worker threads (default 8)")
    parser.add_argument("--wikidata", help="SERVICE <wikidata>: live, snapshot or an endpoint URL")


def settings_from_args(args: argparse.Namespace) -> Settings:
    store: object = None
    if args.store == ":memory:":
        store = "memory"
    elif args.store:
        store = Path(args.store)
    settings = Settings.from_env(
        host=args.host, port=args.port, allow_update=args.allow_update, threads=args.threads,
        wikidata=args.wikidata, bootstrap=not args.no_bootstrap,
        store_path=None if store == "memory" else store,
    )
    if store == "memory":
        from dataclasses import replace

        settings = replace(settings, store_path=None)
    return settings


def run(settings: Settings) -> int:
    """Open the store, bring it up to date, and serve until interrupted."""
    import waitress

    try:
        store = open_store(settings.store_path)
    except StoreError as exc:
        print(f"kgraph: {exc}", file=sys.stderr)
        return 1
    if settings.bootstrap:
        ensure_loaded(store, settings)
    app = create_app(settings, store)
    server = waitress.create_server(
        app, host=settings.host, port=settings.port, threads=settings.threads,
        max_request_body_size=settings.max_body_bytes, ident="kgraph", clear_untrusted_proxy_headers=True,
    )
    addr = server.effective_host, server.effective_port  # type: ignore[union-attr]
    # The first line on stdout is machine-readable: tests and scripts read the port from it.
    print(f"kgraph listening on http://{addr[0]}:{addr[1]}/sparql", flush=True)
    log.info("store: %s; updates %s", settings.store_path or "memory",
             "enabled" if settings.allow_update else "disabled")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``server.py``."""
    parser = argparse.ArgumentParser(prog="server.py", description="Serve the kgraph SPARQL endpoint")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(settings_from_args(args))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="serve the SPARQL endpoint")
    add_serve_arguments(serve)
    serve.set_defaults(func=lambda args: run(settings_from_args(args)))
