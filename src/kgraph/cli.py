"""The ``kgraph`` command line: one subcommand per task, registered by modules.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)``, which adds
its subcommands and sets ``func`` to a callable taking the parsed arguments
and returning an exit status. A feature adds its commands with one line here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

COMMAND_MODULES = [
    "kgraph.serve",
    "kgraph.loader",
    "kgraph.linking.cli",
    "kgraph.ingest.cli",
    "kgraph.reasoning.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgraph", description="kgraph: a SPARQL 1.1 knowledge-graph backend"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .errors import StoreError

    try:
        return int(args.func(args) or 0)
    except StoreError as exc:
        # An engine that cannot be reached or refuses: one line, not a traceback.
        print(f"kgraph {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
