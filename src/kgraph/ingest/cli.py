"""``kgraph ingest`` and ``kgraph coverage``: the command-line face of the pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .coverage import coverage_report
from .facts import FactsError, load_facts
from .pipeline import ingest_paths
from .validate import DEFAULT_ONTOLOGY_DIR, DEFAULT_SHAPES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` and ``coverage`` subcommands."""
    ingest = subparsers.add_parser(
        "ingest", help="validate facts files and replace their documents' named graphs",
        description="Load each facts file, verify every quote at its offset, compile it to RDF, "
        "check it against the ontology and SHACL shapes, then atomically replace the "
        "document's named graph. If any file is rejected nothing is written.")
    ingest.add_argument("facts", nargs="+", type=Path, metavar="FACTS", help="facts file (YAML)")
    ingest.add_argument("--store", type=Path, default=None,
                        help="store directory (default: $KGRAPH_STORE, else var/store)")
    ingest.add_argument("--dry-run", action="store_true",
                        help="check and compile only; do not write")
    ingest.add_argument("--shapes", type=Path, default=DEFAULT_SHAPES, help=argparse.SUPPRESS)
    ingest.add_argument("--ontology", type=Path, default=DEFAULT_ONTOLOGY_DIR,
                        help=argparse.SUPPRESS)
    ingest.set_defaults(func=run_ingest)

    coverage = subparsers.add_parser(
        "coverage", help="write the paragraph-by-paragraph coverage report of a facts file")
    coverage.add_argument("facts", type=Path, metavar="FACTS")
    coverage.add_argument("-o", "--output", type=Path, default=None,
                          help="write Markdown here (default: stdout)")
    coverage.set_defaults(func=run_coverage)


def run_ingest(args: argparse.Namespace) -> int:
    """Entry point of ``kgraph ingest``; returns the exit status."""
    from ..config import Settings
    from ..store import StoreError, open_store

    path = Settings.from_env(store_path=args.store).store_path
    try:
        # A dry run against a store that does not exist yet must not create one.
        store = open_store(None if args.dry_run and path is not None and not path.exists() else path)
    except (StoreError, OSError) as exc:
        locked = "lock" in str(exc).lower()
        if locked and args.dry_run:
            print(f"note: the store at {path} is locked by another process (a running server?); "
                  "checking without comparing against it", file=sys.stderr)
            store = open_store(None)
        elif locked:
            print(f"error: the store at {path} is locked by another process (probably a running "
                  "kgraph server); stop it and retry — nothing was written", file=sys.stderr)
            return 2
        else:
            print(f"error: cannot open the store at {path}: {exc}", file=sys.stderr)
            return 2
    try:
        try:
            reports = ingest_paths(store, args.facts, shapes=args.shapes, ontology=args.ontology,
                                   dry_run=args.dry_run)
        except FactsError as exc:
            for problem in exc.errors:
                print(problem, file=sys.stderr)
            print(f"rejected: {len(exc.errors)} problem(s); the store is unchanged",
                  file=sys.stderr)
            return 1
        except StoreError as exc:
            print(f"error: the store refused the write: {exc}", file=sys.stderr)
            return 2
        for report in reports:
            print(report.summary())
            for warning in report.warnings:
                print(f"  warning: {warning}")
        return 0
    finally:
        store.close()


def run_coverage(args: argparse.Namespace) -> int:
    """Entry point of ``kgraph coverage``."""
    try:
        facts = load_facts(args.facts)
    except FactsError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        return 1
    report = coverage_report(facts, facts.text)
    if args.output is None:
        sys.stdout.write(report)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the two subcommands without the full ``kgraph`` CLI (``python -m kgraph.ingest.cli``)."""
    parser = argparse.ArgumentParser(prog="kgraph")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
