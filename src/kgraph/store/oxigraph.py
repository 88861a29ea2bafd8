"""The default engine: Oxigraph, embedded through pyoxigraph.

Why Oxigraph: it is a persistent RocksDB-backed quad store with a complete
SPARQL 1.1 Query/Update implementation in Rust, it releases the GIL while it
evaluates (so concurrent readers run in parallel), and every write is a
transaction. The measurements behind the choice are in ``bench/`` and
``docs/store.md``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from pyoxigraph import (
    DefaultGraph,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    Triple,
)
from pyoxigraph import Store as OxStore

from ..lexer import engine_text, has_dataset_clause, query_prefixes
from ..rdf import graph_node as _graph_node
from ..rdf import parse_rdf, rdf_format
from .base import (
    AskResult,
    DatasetSpec,
    GraphResult,
    QueryResult,
    SelectResult,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreError,
    StoreReadOnlyError,
)
from .bnodes import replace_update


class OxigraphStore:
    """A :class:`kgraph.store.base.Store` on a pyoxigraph ``Store``."""

    name = "oxigraph"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        union_default_graph: bool = True,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else None
        #: Whether a query that names no dataset sees the union of all graphs.
        self.union_default_graph = union_default_graph
        #: A read-only store refuses every write (and opens RocksDB read-only, lock-free).
        self.read_only = read_only
        self._version = 0
        try:
            if self.path is not None and read_only:
                self._store = OxStore.read_only(str(path))
            elif self.path is not None:
                self.path.mkdir(parents=True, exist_ok=True)
                self._store = OxStore(str(path))
            else:
                self._store = OxStore()
        except OSError as exc:
            hint = " (another process, e.g. a running kgraph server, holds it)" if "lock" in str(exc).lower() else ""
            raise StoreError(f"cannot open store at {path}: {exc}{hint}") from exc

    def version(self) -> int:
        """Writes made through this handle since it was opened."""
        return self._version

    def _writing(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError("this store is read-only; nothing was changed")
        self._version += 1

    # -- queries -----------------------------------------------------------------
    def native_query(
        self, sparql: str, *, dataset: DatasetSpec | None = None, base_iri: str | None = None
    ) -> object:
        """The engine's own result (QuerySolutions, QueryBoolean or QueryTriples), for a
        caller that lets the engine write the answer itself (kgraph.store.pool)."""
        kwargs: dict[str, object] = {}
        if dataset is not None and (
            dataset.default_graphs is not None or dataset.named_graphs is not None
        ):
            kwargs["default_graph"] = [_graph_node(g) for g in dataset.default_graphs or []]
            kwargs["named_graphs"] = [NamedNode(g) for g in dataset.named_graphs or []]
        elif self.union_default_graph and not has_dataset_clause(sparql):
            kwargs["use_default_graph_as_union"] = True
        try:
            return self._store.query(engine_text(sparql), base_iri=base_iri, **kwargs)
        except SyntaxError as exc:
            raise SparqlSyntaxError(str(exc)) from exc
        except ValueError as exc:
            raise SparqlSyntaxError(str(exc)) from exc
        except (OSError, RuntimeError) as exc:
            raise SparqlEvaluationError(str(exc)) from exc

    def query(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        # In-process evaluation cannot be interrupted (pyoxigraph has no way to):
        # ``timeout_s`` is enforced by callers while results are written, and by
        # kgraph.store.pool, which runs queries in worker processes it can stop.
        result = self.native_query(sparql, dataset=dataset, base_iri=base_iri)
        if isinstance(result, QueryBoolean):
            return AskResult(bool(result))
        if isinstance(result, QuerySolutions):
            variables = [v.value for v in result.variables]
            return SelectResult(variables, _rows(result, len(variables)))
        return GraphResult(_checked(result), query_prefixes(sparql))

    def update(
        self, sparql: str, *, base_iri: str | None = None, timeout_s: float | None = None
    ) -> None:
        self._writing()
        try:
            self._store.update(engine_text(sparql), base_iri=base_iri)
        except SyntaxError as exc:
            raise SparqlSyntaxError(str(exc)) from exc
        except ValueError as exc:
            # engine_text's own rejections are syntax errors; the engine's are evaluation errors
            raise (SparqlSyntaxError if str(exc).startswith("error at") else SparqlEvaluationError)(
                str(exc)) from exc
        except (OSError, RuntimeError) as exc:
            # e.g. DROP of a missing graph, CREATE of an existing one, a failed LOAD
            raise SparqlEvaluationError(str(exc)) from exc

    # -- writes ------------------------------------------------------------------
    def load(
        self,
        data: bytes | IO[bytes],
        media_type: str,
        *,
        graph: str | None = None,
        base_iri: str | None = None,
    ) -> int:
        quads = parse_rdf(data, media_type, graph=graph, base_iri=base_iri)
        self.add_quads(quads)
        return len(quads)

    def add_quads(self, quads: Iterable[Quad]) -> None:
        self._writing()
        try:
            self._store.extend(quads)
        except OSError as exc:
            raise StoreError(str(exc)) from exc

    def replace_graph(self, graph: str | None, quads: Iterable[Quad]) -> None:
        # One SPARQL update is one transaction: the graph is never seen half-replaced.
        # Its blank nodes stay the nodes they are (kgraph.store.bnodes): INSERT DATA
        # alone would mint new ones and cut the links to the rest of the store.
        self._writing()
        text, functions = replace_update(
            graph, (Triple(q.subject, q.predicate, q.object) for q in quads))
        try:
            self._store.update(text, custom_functions=functions)
        except OSError as exc:
            raise StoreError(str(exc)) from exc

    def drop_graph(self, graph: str | None) -> bool:
        self._writing()
        if graph is None:
            existed = next(iter(self._store.quads_for_pattern(None, None, None, DefaultGraph())),
                           None) is not None
            self._store.clear_graph(DefaultGraph())
            return existed
        node = NamedNode(graph)
        if not self._store.contains_named_graph(node):
            return False
        self._store.remove_graph(node)
        return True

    # -- reads -------------------------------------------------------------------
    def match(
        self,
        subject: object = None,
        predicate: object = None,
        object: object = None,  # noqa: A002 - the RDF name
        graph: object = ...,
    ) -> Iterator[Quad]:
        g = None if graph is ... else _graph_node(graph)  # type: ignore[arg-type]
        return iter(self._store.quads_for_pattern(subject, predicate, object, g))

    def triples(self, graph: str | None) -> Iterator[Triple]:
        for q in self._store.quads_for_pattern(None, None, None, _graph_node(graph)):
            yield Triple(q.subject, q.predicate, q.object)

    def quads(self) -> Iterator[Quad]:
        return iter(self._store.quads_for_pattern(None, None, None, None))

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self._store.named_graphs() if isinstance(g, NamedNode))

    def contains_graph(self, graph: str) -> bool:
        return self._store.contains_named_graph(NamedNode(graph))

    def count(self, graph: str | None = None, /, *, all_graphs: bool = False) -> int:
        """Quads in one graph (``None``: the default graph), or in all with ``all_graphs``."""
        if all_graphs:
            return len(self._store)
        return sum(1 for _ in self._store.quads_for_pattern(None, None, None, _graph_node(graph)))

    def dump(self, output: IO[bytes], media_type: str) -> None:
        fmt = rdf_format(media_type)
        if not fmt.supports_datasets:
            raise ValueError(f"{media_type} cannot hold named graphs; use N-Quads or TriG")
        self._store.dump(output, fmt)

    def flush(self) -> None:
        self._store.flush()

    def backup(self, target: str | Path) -> None:
        """A consistent on-disk copy (RocksDB checkpoint: hard links, milliseconds)."""
        self._store.backup(str(target))

    def close(self) -> None:
        if self.path is not None and not self.read_only:
            self._store.flush()
        del self._store

    @property
    def native(self) -> OxStore:
        """The pyoxigraph store, for code that needs engine-specific speed (e.g. reasoning)."""
        return self._store

    def bulk_load(
        self,
        paths: Sequence[str | Path],
        *,
        graph: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Load RDF files with the engine's bulk loader, all or nothing; return quads added.

        Files are streamed (memory stays bounded whatever their size); blank nodes
        are distinct per file; triples go to ``graph`` when given (a dataset's named
        graphs keep their names). pyoxigraph's bulk loader is not transactional, so
        an on-disk store is loaded through a staging copy (a RocksDB checkpoint: hard
        links, milliseconds) that replaces the store in one atomic directory exchange
        only once every file loaded: a syntax error, or a load killed half-way,
        leaves the store exactly as it was. The handle must not be in use by others
        while it runs (it is closed and reopened around the exchange).
        ``progress(bytes, lines)`` is called with the increments as files are read.
        """
        import io

        from ..rdf import media_type_for
        from .base import RdfSyntaxError
        from .staging import CountingReader, exchange_dirs, staging_dirs

        if self.read_only:
            raise StoreReadOnlyError("this store is read-only; nothing was changed")
        files = [Path(p) for p in paths]
        formats = [rdf_format(media_type_for(p)) for p in files]  # unknown extension: ValueError
        to_graph = NamedNode(graph) if graph is not None else None

        def load_into(target: OxStore) -> str | None:
            """Load every file; the first syntax error's message, or ``None``.

            An error is returned rather than raised so that no traceback keeps the
            staging store open while its directory is removed.
            """
            for path, fmt in zip(files, formats, strict=True):
                with open(path, "rb", buffering=0) as raw:
                    # 1 MiB reads: progress is counted per buffer, not per parser request
                    reader = io.BufferedReader(CountingReader(raw, progress), 1 << 20)
                    try:
                        target.bulk_load(reader, fmt,
                                         base_iri=path.resolve().as_uri(), to_graph=to_graph)
                    except (SyntaxError, ValueError) as exc:
                        return f"{path}: {exc}"
            return None

        if self.path is None:
            # In memory: parse every file into a scratch store, then add all in one transaction.
            scratch = OxStore()
            error = load_into(scratch)
            if error is not None:
                raise RdfSyntaxError(error)
            before = len(self._store)
            self._writing()
            self._store.extend(scratch)
            return len(self._store) - before

        staging, _ = staging_dirs(self.path)
        if staging.exists():  # left by a load that was killed; this handle holds the lock
            shutil.rmtree(staging)
        before = len(self._store)
        self._store.backup(str(staging))
        try:
            loaded = OxStore(str(staging))
            error = load_into(loaded)
            if error is None:
                loaded.flush()
                after = len(loaded)
            del loaded  # closes the staging store
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if error is not None:
            shutil.rmtree(staging)
            raise RdfSyntaxError(error)
        self._writing()
        self._store.flush()
        del self._store  # releases the RocksDB lock unless something else still holds it
        try:
            probe = OxStore(str(self.path))  # proves no handle (e.g. an iterator) is left
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StoreError(f"nothing was loaded: the store is still in use in this process "
                             f"({exc}); reopen it") from exc
        del probe
        try:
            exchange_dirs(staging, self.path)  # the commit point
        finally:
            self._store = OxStore(str(self.path))
        shutil.rmtree(staging, ignore_errors=True)  # now the old content
        return after - before


def _rows(solutions: QuerySolutions, width: int) -> Iterator[Sequence[object]]:
    try:
        for solution in solutions:
            yield tuple(solution[i] for i in range(width))
    except (OSError, RuntimeError) as exc:
        raise SparqlEvaluationError(str(exc)) from exc


def _checked(triples: Iterable[Triple]) -> Iterator[Triple]:
    try:
        yield from triples
    except (OSError, RuntimeError) as exc:
        raise SparqlEvaluationError(str(exc)) from exc
