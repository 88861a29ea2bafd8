"""``kgraph load`` and ``kgraph dump``: bulk RDF in and out of the store.

A load is all or nothing: a file that fails part-way (or the third of three
files), or a load killed half-way, leaves the store exactly as it was. A store
with a bulk path (``store.bulk_load``: the embedded store's streams the files
through the engine's bulk loader into a staging copy that is swapped in at the
end) loads files of any size in bounded memory; any other store gets the quads
parsed by :mod:`kgraph.rdf` and added in one ``add_quads``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pyoxigraph import Quad, RdfFormat
from tqdm import tqdm

from .config import Settings
from .rdf import EXTENSIONS, media_type_for, parse_rdf
from .store import RdfSyntaxError, StoreError, open_configured, open_store
from .store.staging import recover_interrupted_load


def ontology_files(folder: Path) -> list[Path]:
    """The ontology's RDF files in ``folder`` (the SHACL shapes are validation input, not
    ontology): what the bootstrap loads and what ingestion checks vocabulary against."""
    return sorted(p for p in Path(folder).glob("*") if p.suffix in EXTENSIONS
                  and p.stem != "shapes")


def parse_files(paths: list[Path], graph: str | None, progress: bool = True) -> list[Quad]:
    """Parse every file, in memory, into quads (triples into ``graph``), with kgraph.rdf."""
    quads: list[Quad] = []
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


class LoadProgress:
    """A tqdm bar over the bytes of the files, with the rate in triples per second.

    For N-Triples and N-Quads a line is a triple, so the rate is exact; for other
    formats it counts lines (shown as ``~``). The exact count is reported at the end.
    """

    def __init__(self, paths: Sequence[Path], enabled: bool = True) -> None:
        self.lines = 0
        self._start = time.perf_counter()
        self._shown = 0.0
        exact = all(media_type_for(p) in ("application/n-triples", "application/n-quads")
                    for p in paths)
        self._label = "triples/s" if exact else "~triples/s"
        self.bar = tqdm(total=sum(p.stat().st_size for p in paths), unit="B", unit_scale=True,
                        desc="loading", disable=not enabled, file=sys.stderr)

    def __call__(self, nbytes: int, lines: int | None = None) -> None:
        """``(bytes, lines)`` read (the embedded store), or ``(quads,)`` sent (a store
        that reports statements, not bytes: the rate is then exact)."""
        if lines is None:
            self.lines += nbytes
            self._label = "triples/s"
        else:
            self.lines += lines
            self.bar.update(nbytes)
        now = time.perf_counter()
        if now - self._shown > 0.5:
            self._shown = now
            rate = self.lines / max(now - self._start, 1e-9)
            self.bar.set_postfix_str(f"{rate:,.0f} {self._label}", refresh=False)

    def close(self) -> None:
        self.bar.close()


def load_files(store, paths: Sequence[Path], graph: str | None = None,  # type: ignore[no-untyped-def]
               progress: bool = True) -> int:
    """Load files all or nothing; returns the number of quads added.

    Uses the store's bulk path when it has one (streaming, bounded memory),
    else parses with :mod:`kgraph.rdf` and adds everything in one write.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        media_type_for(path)  # an unknown extension fails before anything is read
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    if graph is not None:
        for path in paths:
            if media_type_for(path) in ("application/n-quads", "application/trig"):
                print(f"note: {path.name} is a dataset; --graph applies to its default-graph "
                      "triples, its named graphs keep their names", file=sys.stderr)
    bulk = getattr(store, "bulk_load", None)
    if bulk is None:
        quads = parse_files(paths, graph, progress)
        store.add_quads(quads)
        return len(quads)
    bar = LoadProgress(paths, progress)
    try:
        return int(bulk(paths, graph=graph, progress=bar))
    finally:
        bar.close()


def _cmd_load(args: argparse.Namespace) -> int:
    remote = bool(args.store and args.store.startswith(("http://", "https://")))
    if remote:
        settings = Settings.from_env(store_url=args.store)
    else:
        settings = Settings.from_env(store_path=args.store)
        if args.store:
            settings = replace(settings, store_url=None)
    t0 = time.perf_counter()
    try:
        if settings.store_url:
            # A remote engine (KGRAPH_STORE_URL or --store URL) loads through its own bulk path.
            from .store.remote import RemoteStore

            store = RemoteStore.from_settings(settings)
        else:
            if settings.store_path is not None:
                recover_interrupted_load(Path(settings.store_path))
            store = open_store(settings.store_path)
    except (StoreError, OSError, ImportError) as exc:
        print(f"kgraph load: {exc}", file=sys.stderr)
        return 1
    try:
        n = load_files(store, [Path(p) for p in args.files], args.graph, not args.quiet)
    except (RdfSyntaxError, ValueError, OSError, StoreError) as exc:
        print(f"kgraph load: {exc}\nnothing was loaded; the store is unchanged", file=sys.stderr)
        return 1
    finally:
        store.close()
    seconds = time.perf_counter() - t0
    where = settings.store_url or settings.store_path
    print(f"loaded {n} quads into {where} in {seconds:.1f} s "
          f"({n / max(seconds, 1e-9):,.0f} quads/s)", file=sys.stderr)
    return 0


def _cmd_dump(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store_path=args.store)
    fmt = RdfFormat.TRIG if args.format == "trig" else RdfFormat.N_QUADS
    try:
        store = open_configured(settings)
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
    load.add_argument("--store", metavar="PATH|URL",
                      help="store directory (env KGRAPH_STORE), or a remote engine's SPARQL "
                           "endpoint URL (env KGRAPH_STORE_URL, with KGRAPH_UPDATE_URL, ...)")
    load.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    load.set_defaults(func=_cmd_load)

    dump = sub.add_parser("dump", help="write the whole store as N-Quads or TriG")
    dump.add_argument("--store", metavar="PATH", help="store directory (env KGRAPH_STORE)")
    dump.add_argument("--format", choices=["nquads", "trig"], default="nquads")
    dump.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    dump.set_defaults(func=_cmd_dump)
