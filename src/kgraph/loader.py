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
import ctypes
import errno
import io
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

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


class CountingReader(io.RawIOBase):
    """A binary file that reports bytes and newlines read, for a progress bar that
    costs nothing per triple (the engine parses; Python only sees buffers)."""

    def __init__(self, raw: IO[bytes], report: Callable[[int, int], None] | None) -> None:
        super().__init__()
        self._raw = raw
        self._report = report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer) or 0
        if n and self._report is not None:
            self._report(n, bytes(memoryview(buffer)[:n]).count(b"\n"))
        return n


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


def staging_dirs(store_dir: Path) -> tuple[Path, Path]:
    """Where a bulk load stages its copy of ``store_dir``, and where the non-atomic
    fallback swap parks the old store: beside it, so hard links work."""
    parent, name = store_dir.parent, store_dir.name
    return parent / f".{name}.kgraph-load", parent / f".{name}.kgraph-old"


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_dirs(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Where the call or the file system does not support it, fall back to two renames
    with the old directory parked aside; :func:`recover_interrupted_load` finishes
    such a swap if the process dies between the two.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(b))
    _, parked = staging_dirs(b)
    if parked.exists():
        shutil.rmtree(parked)
    (a / ".kgraph-load-complete").touch()  # the commit record of the fallback swap
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def recover_interrupted_load(store_dir: Path) -> None:
    """Finish a fallback swap that a killed load left half-done (call before opening).

    The store directory is only ever missing between the two renames of
    :func:`exchange_dirs`'s fallback: the staged copy, complete by then, becomes
    the store.
    """
    staging, parked = staging_dirs(store_dir)
    if not store_dir.exists() and parked.exists():
        if (staging / ".kgraph-load-complete").exists():
            os.rename(staging, store_dir)
            shutil.rmtree(parked)
        else:
            os.rename(parked, store_dir)
    marker = store_dir / ".kgraph-load-complete"
    if marker.exists():
        marker.unlink()


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
