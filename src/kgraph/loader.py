"""``kgraph load`` and ``kgraph dump``: bulk RDF in and out of the store.

A load parses every file completely before it writes anything and then adds
all quads in one transaction, so a file that fails part-way (or the third of
three files) leaves the store exactly as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyoxigraph import Quad, RdfFormat
from tqdm import tqdm

from .config import Settings
from .rdf import parse_rdf
from .store import RdfSyntaxError, StoreError, open_store

EXTENSIONS = {
    ".ttl": "text/turtle",
    ".nt": "application/n-triples",
    ".nq": "application/n-quads",
    ".trig": "application/trig",
    ".rdf": "application/rdf+xml",
    ".owl": "application/rdf+xml",
    ".xml": "application/rdf+xml",
    ".jsonld": "application/ld+json",
    ".json": "application/ld+json",
}


def media_type_for(path: Path) -> str:
    """The RDF media type of a file, from its extension."""
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path}: unknown RDF extension {path.suffix!r} (known: {', '.join(EXTENSIONS)})"
        ) from None


def parse_files(paths: list[Path], graph: str | None, progress: bool = True) -> list[Quad]:
    """Parse every file, in memory, into quads (triples into ``graph``)."""
    quads: list[Quad] = []
    if graph is not None:
        for path in paths:
            if media_type_for(path) in ("application/n-quads", "application/trig"):
                print(f"note: {path.name} is a dataset; --graph applies to its default-graph "
                      "triples, its named graphs keep their names", file=sys.stderr)
    bar = tqdm(total=sum(p.stat().st_size for p in paths), unit="B", unit_scale=True,
               desc="parsing", disable=not progress, file=sys.stderr)
    with bar:
        for path in paths:
            media = media_type_for(path)
            try:
                quads.extend(parse_rdf(path.read_bytes(), media, graph=graph,
                                       base_iri=path.resolve().as_uri()))
            except RdfSyntaxError as exc:
                raise RdfSyntaxError(f"{path}: {exc}") from exc
            bar.update(path.stat().st_size)
    return quads


def load_files(store, paths: list[Path], graph: str | None = None, progress: bool = True) -> int:  # type: ignore[no-untyped-def]
    """Load files atomically; returns the number of quads added."""
    quads = parse_files(paths, graph, progress)
    store.add_quads(tqdm(quads, desc="storing", unit="quad", disable=not progress, file=sys.stderr))
    return len(quads)


def _cmd_load(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store_path=args.store)
    try:
        store = open_store(settings.store_path)
        n = load_files(store, [Path(p) for p in args.files], args.graph, not args.quiet)
        store.close()
    except (RdfSyntaxError, ValueError, OSError) as exc:
        print(f"kgraph load: {exc}\nnothing was loaded", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"kgraph load: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {n} quads into {settings.store_path}", file=sys.stderr)
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store_path=args.store)
    fmt = RdfFormat.TRIG if args.format == "trig" else RdfFormat.N_QUADS
    try:
        store = open_store(settings.store_path)
    except StoreError as exc:
        print(f"kgraph dump: {exc}", file=sys.stderr)
        return 1
    if args.output in (None, "-"):
        store.dump(sys.stdout.buffer, fmt.media_type)
        sys.stdout.buffer.flush()
    else:
        with open(args.output, "wb") as out:
            store.dump(out, fmt.media_type)
    store.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    load = sub.add_parser("load", help="load RDF files into the store (all or nothing)")
    load.add_argument("files", nargs="+", metavar="FILE",
                      help="Turtle, N-Triples, N-Quads, TriG, RDF/XML or JSON-LD")
    load.add_argument("--graph", metavar="IRI", help="named graph for triples (default: default graph)")
    load.add_argument("--store", metavar="PATH", help="store directory (env KGRAPH_STORE)")
    load.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    load.set_defaults(func=_cmd_load)

    dump = sub.add_parser("dump", help="write the whole store as N-Quads or TriG")
    dump.add_argument("--store", metavar="PATH", help="store directory (env KGRAPH_STORE)")
    dump.add_argument("--format", choices=["nquads", "trig"], default="nquads")
    dump.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    dump.set_defaults(func=_cmd_dump)
