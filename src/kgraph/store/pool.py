"""Query executor processes, and the store an HTTP worker uses: :class:`PooledStore`.

pyoxigraph cannot interrupt a query, so a query that must be stoppable runs
in a process of its own: each HTTP worker keeps ``settings.threads`` executor
processes. An executor opens the newest published snapshot read-only
(:mod:`kgraph.store.snapshots`), checks the published version before every
request (an 8-byte memory read) and reopens when it is behind, evaluates, and
writes the answer itself in the media type the web layer chose, sending it
back in frames as it is produced. At the time limit the worker kills the
executor (SIGKILL: the engine's work really stops) and starts a fresh one.

Writes go to the single writer process (:mod:`kgraph.store.writer`).

Wire format (a ``socketpair`` per executor, so one request at a time):

* request: 4-byte little-endian length, then ``M`` + marshal data (the hot
  path: strings and tuples only) or ``P`` + pickle (requests carrying terms);
* answer: frames of 1 type byte, 4-byte length, payload. ``H`` kind and media
  type, ``D`` bytes of the answer, ``P`` a pickled batch (rows, quads, values
  for internal callers), ``X`` an error (marshal: class name, message, status),
  ``E`` the end. A small answer is one ``send``, read by one ``recv``.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import math
import os
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pyoxigraph import (
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    QueryTriples,
    RdfFormat,
    Triple,
    serialize,
)

from .. import resources
from ..config import Settings
from ..errors import ProtocolError
from ..lexer import query_prefixes
from ..namespaces import PREFIXES
from . import results as fmt
from .base import (
    AskResult,
    DatasetSpec,
    EngineCrashError,
    GraphResult,
    QueryResult,
    QueryTimeoutError,
    SelectResult,
    SerializedResult,
    StoreBusyError,
    StoreError,
)
from .snapshots import VersionCounter, snapshot_path, snapshots_root
from .writer import ENV_SETTINGS, ERRORS, WriterClient, die_with_parent, settings_from_json

_LEN = struct.Struct("<I")
_FRAME = struct.Struct("<cI")
_RECV = 1 << 18
#: Rows (or quads) per pickled batch for internal callers.
BATCH = 1000
#: Answer bytes buffered before a frame goes out (the writers yield ~64 KiB chunks).
FLUSH = 1 << 16
#: An answer abandoned by its reader is read to its end if that takes at most this long
#: and this many bytes (the executor is reused); beyond, the executor is killed.
DRAIN_S = 0.05
DRAIN_BYTES = 1 << 20
#: Times a request lost with a process killed for another request is sent again.
RESENDS = 5
#: How often idle executors are checked for having died.
REAP_INTERVAL_S = 0.5


# == the executor process ===============================================================
class _Out:
    """Frames to the worker, coalesced so a small answer is one ``send``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parts: list[bytes] = []
        self.size = 0
        #: Whether any frame of the current answer went out.
        self.sent = False

    def frame(self, kind: bytes, payload: bytes = b"") -> None:
        self.parts.append(_FRAME.pack(kind, len(payload)))
        self.parts.append(payload)
        self.size += len(payload) + 5
        if self.size >= FLUSH:
            self.push()

    def flush(self) -> None:
        """File-like ``flush``: a no-op (frames go out in :meth:`push`, coalesced)."""

    def push(self) -> None:
        """Send what is buffered."""
        if self.parts:
            self.sock.sendall(b"".join(self.parts))
            self.parts, self.size = [], 0
            self.sent = True

    def write(self, data: bytes) -> int:
        """File-like ``write`` (the engine's serializers and ``Store.dump`` write here)."""
        if data:
            self.frame(b"D", bytes(data))
        return len(data)

    def discard(self) -> None:
        """Forget what was not sent yet (an error before the first byte replaces it)."""
        self.parts, self.size = [], 0


def _dataset(spec: Any) -> DatasetSpec | None:
    if spec is None:
        return None
    default, named = spec
    return DatasetSpec(None if default is None else list(default),
                       None if named is None else list(named))


class _Executor:
    """The executor's state: the open snapshot and its version."""

    def __init__(self, root: Path) -> None:
        from .oxigraph import OxigraphStore

        self.root = root
        self.counter = VersionCounter(root)
        self.open = OxigraphStore
        self.store: Any = None
        self.version = -1
        #: Most rows or triples in one answer (the server's settings reach a spawned
        #: executor through the environment its worker was given).
        self.max_rows = _max_result_rows()
        #: Set when several threads share this executor: a superseded store is then left
        #: to the garbage collector (another thread may still be reading it).
        self.shared = False
        self._lock = threading.Lock()

    def current(self) -> Any:
        """The store of the newest published snapshot (opened when this one is behind).

        The new snapshot is opened before the old one is closed, so a failed open
        (raised to that request) leaves the executor as it was, and the next request
        tries again.
        """
        version = self.counter.read()
        if version == self.version:
            return self.store
        with self._lock:
            if version == self.version:
                return self.store
            try:
                store = self.open(snapshot_path(self.root, version), read_only=True)
            except StoreError:
                newer = self.counter.read()  # published again meanwhile: take that one
                if newer == version:
                    raise
                store = None
            if store is None:
                pass
            else:
                old, self.store, self.version = self.store, store, version
                if old is not None and not self.shared:
                    old.close()
                return store
        return self.current()

    def run(self, request: tuple[Any, ...], out: _Out) -> None:
        op = request[0]
        store = self.current()
        if op == "q":
            self.serialized(store, request, out)
        elif op == "r":
            self.rows(store, request, out)
        elif op == "match":
            s, p, o, graph = request[1:]
            self.batches(store.match(s, p, o, graph), out)
        elif op == "triples":
            self.batches(store.triples(request[1]), out)
        elif op == "quads":
            self.batches(store.quads(), out)
        elif op == "named_graphs":
            out.frame(b"P", pickle.dumps(store.named_graphs()))
        elif op == "contains_graph":
            out.frame(b"P", pickle.dumps(store.contains_graph(request[1])))
        elif op == "count":
            graph, all_graphs = request[1:]
            every = all_graphs or graph is ...  # ``...``: any graph, as in ``match``
            value = store.count(all_graphs=True) if every else store.count(graph)
            out.frame(b"P", pickle.dumps(value))
        elif op == "dump":
            store.dump(out, request[1])
        else:
            raise StoreError(f"unknown executor operation {op!r}")
        out.frame(b"E")

    def serialized(self, store: Any, request: tuple[Any, ...], out: _Out) -> None:
        _, sparql, dataset, base_iri, solutions_format, graph_format = request
        raw = _native_query(store, sparql, _dataset(dataset), base_iri)
        if isinstance(raw, QueryTriples):
            if graph_format is None:
                raise _NotAcceptable("graph")
            out.frame(b"H", f"graph\n{graph_format}".encode())
            prefixes = {**PREFIXES, **query_prefixes(sparql)}
            for data in fmt.stream_rdf(fmt.capped(raw, self.max_rows), graph_format, None,
                                       prefixes):
                out.frame(b"D", data)
            return
        kind = "boolean" if isinstance(raw, QueryBoolean) else "solutions"
        if solutions_format is None:
            raise _NotAcceptable(kind)
        out.frame(b"H", f"{kind}\n{solutions_format}".encode())
        native = NATIVE_WRITERS.get((kind, solutions_format))
        if native is not None:  # engine-written: byte-for-byte W3C syntax, several times faster
            if kind == "solutions" and self.max_rows:
                raw.serialize(_RowCap(out, solutions_format, self.max_rows), format=native)
            else:
                raw.serialize(out, format=native)
            return
        result: SelectResult | AskResult
        if isinstance(raw, QueryBoolean):
            result = AskResult(bool(raw))
        else:
            width = len(raw.variables)
            result = SelectResult([v.value for v in raw.variables],
                                  fmt.capped((tuple(row[i] for i in range(width))
                                              for row in raw), self.max_rows))
        for chunk in fmt.write_solutions(result, solutions_format):
            out.frame(b"D", chunk.encode("utf-8"))

    def rows(self, store: Any, request: tuple[Any, ...], out: _Out) -> None:
        _, sparql, dataset, base_iri = request
        result = store.query(sparql, dataset=_dataset(dataset), base_iri=base_iri)
        if isinstance(result, AskResult):
            out.frame(b"P", pickle.dumps(("ask", result.value)))
            return
        if isinstance(result, SelectResult):
            out.frame(b"P", pickle.dumps(("select", result.variables)))
            self.batches(result.rows, out)
            return
        out.frame(b"P", pickle.dumps(("graph", result.prefixes)))
        self.batches(result.triples, out)

    @staticmethod
    def batches(items: Iterable[Any], out: _Out) -> None:
        batch: list[Any] = []
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                out.frame(b"P", pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
                batch = []
        if batch:
            out.frame(b"P", pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))


class _RowCap:
    """A file-like in front of :class:`_Out` that counts the rows the engine writes.

    The engine's JSON and CSV writers take the whole solution sequence, so rows are
    counted in the bytes: a JSON binding starts with ``{`` after ``[`` or ``},`` and a CSV
    row ends with CRLF. A literal containing ``},{`` or a quoted CRLF counts as more rows
    than it is, never fewer: an answer over the cap is always caught, and one within it
    is refused only when its text mimics the separators near the cap.
    """

    def __init__(self, out: _Out, media_type: str, limit: int) -> None:
        self.out = out
        self.limit = limit
        self.csv = media_type == "text/csv"
        # CSV: the header line is no row; JSON: the first binding follows ``[``, not ``},``
        self.rows = -1 if self.csv else 0
        self.tail = b""

    def write(self, data: bytes) -> int:
        data = bytes(data)
        seen = self.tail + data
        if self.csv:
            self.rows += seen.count(b"\r\n") - self.tail.count(b"\r\n")
        else:
            self.rows += (seen.count(b"},{") - self.tail.count(b"},{")
                          + seen.count(b"[{") - self.tail.count(b"[{"))
        self.tail = seen[-2:]
        if self.rows > self.limit:
            raise fmt.ResultTooLargeError(self.limit)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _max_result_rows() -> int:
    text = os.environ.get(ENV_SETTINGS)
    settings = settings_from_json(text) if text else Settings()
    return int(settings.max_result_rows or 0)


def _describe(exc: Exception) -> tuple[str, str, int]:
    """An executor's exception as (class name, message, status) for the wire."""
    if isinstance(exc, _NotAcceptable):
        return ("NotAcceptable", exc.kind, 406)
    if isinstance(exc, fmt.ResultTooLargeError):
        return ("ResultTooLargeError", str(exc), exc.limit)
    if isinstance(exc, SyntaxError):
        return ("SparqlSyntaxError", str(exc), 0)
    if isinstance(exc, OSError | RuntimeError) and type(exc).__name__ not in ERRORS:
        return ("SparqlEvaluationError", str(exc), 0)  # the engine failed while iterating
    return (type(exc).__name__, str(exc), 0)


def _native_query(store: Any, sparql: str, dataset: DatasetSpec | None,
                  base_iri: str | None) -> Any:
    """The engine's own result object (QuerySolutions, QueryBoolean or QueryTriples): the
    same evaluation as :meth:`OxigraphStore.query`, unwrapped so that the engine can write
    the answer itself."""
    return store.native_query(sparql, dataset=dataset, base_iri=base_iri)


#: Answers the engine writes itself, where its output is exactly what the W3C formats say
#: (checked against kgraph's writers: same JSON up to whitespace, same CSV). Its XML and
#: TSV write control characters raw, so kgraph's writers keep those.
NATIVE_WRITERS = {
    ("solutions", "application/sparql-results+json"): QueryResultsFormat.JSON,
    ("boolean", "application/sparql-results+json"): QueryResultsFormat.JSON,
    ("solutions", "text/csv"): QueryResultsFormat.CSV,
}


class _NotAcceptable(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def executor_main(fds: int | str, root: str, parent_pid: int) -> int:
    """Entry point of an executor process: answer requests on each of ``fds`` (one
    socket, or several separated by commas: one thread each, sharing the store) until
    EOF."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    numbers = [int(fd) for fd in str(fds).split(",")]
    executor = _Executor(Path(root))
    if len(numbers) == 1:
        return _serve(socket.socket(fileno=numbers[0]), executor)
    executor.shared = True
    threads = [threading.Thread(target=_serve, args=(socket.socket(fileno=fd), executor),
                                daemon=True) for fd in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


def _serve(sock: socket.socket, executor: _Executor) -> int:
    """Answer the requests of one socket, one at a time, until EOF."""
    out = _Out(sock)
    while True:
        try:
            raw = sock.recv(_RECV)  # a request is small: one read, usually whole
            while len(raw) < 4 or len(raw) < 4 + _LEN.unpack_from(raw, 0)[0]:
                more = sock.recv(_RECV)
                if not more:
                    return 0
                raw += more
        except OSError:
            return 0
        raw = raw[4:]  # one request at a time: nothing follows it
        out.sent = False
        try:
            request = marshal.loads(raw[1:]) if raw[:1] == b"M" else pickle.loads(raw[1:])
            executor.run(request, out)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to its request
            if not out.sent:  # nothing reached the worker: the error keeps its own status
                out.discard()
            out.frame(b"X", marshal.dumps(_describe(exc)))
        try:
            out.push()
        except OSError:
            return 0


# == answers in the worker itself ========================================================
class _NotHere(Exception):
    """A query the worker gives to a query process after all (a bound passed, or an error
    that the query process reports in its own words)."""


class _Here:
    """An :class:`_Out` for an answer written in the worker: the same frames, kept in
    memory, within a time and size budget (past it, :class:`_NotHere`)."""

    def __init__(self, deadline: float, max_bytes: int) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.head = b""
        self.chunks: list[bytes] = []
        self.size = 0
        self.sent = False

    def frame(self, kind: bytes, payload: bytes = b"") -> None:
        if kind == b"H":
            self.head = payload
            return
        self.size += len(payload)
        if self.size > self.max_bytes or time.monotonic() > self.deadline:
            raise _NotHere
        self.chunks.append(payload)

    def write(self, data: bytes) -> int:
        if data:
            self.frame(b"D", bytes(data))
        return len(data)

    def flush(self) -> None:
        """File-like ``flush``: nothing to do."""


class _Kept:
    """The chunks of an answer written in the worker, with the ``close()`` of
    :class:`_Chunks` (nothing to give up: the answer is whole)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> _Kept:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks = iter(())


class _LocalAnswers:
    """Provably cheap queries (:mod:`kgraph.store.cost`) answered in the HTTP worker
    from its own read-only handle on the newest snapshot, with no hop to a query
    process: the same evaluation and writers as an executor (``_Executor.serialized``),
    so the same bytes, chunk for chunk. The published version is read before every
    query and the handle reopened when it is behind, as in an executor, so a write
    acknowledged before the query is seen."""

    def __init__(self, root: Path, counter: VersionCounter) -> None:
        from .cost import CostModel
        from .oxigraph import OxigraphStore

        self.root = root
        self.counter = counter
        self.open = OxigraphStore
        self.cost = CostModel()
        self.writer = _Executor.__new__(_Executor)  # only its writers and row cap
        self.writer.max_rows = _max_result_rows()
        self._lock = threading.Lock()
        #: (handle, version) of the newest snapshot opened here.
        self._current: tuple[Any, int] = (None, -1)
        #: Answers given here and handed on (for tests and measurements).
        self.answered = 0
        self.handed_on = 0

    def store(self) -> tuple[Any, int]:
        """The handle on the published snapshot and its version (a handle is never closed
        while a thread may use it: a superseded one goes when its last user drops it)."""
        version = self.counter.read()
        current = self._current
        if current[1] == version:
            return current
        with self._lock:
            if self._current[1] != version:
                self._current = (self.open(snapshot_path(self.root, version), read_only=True),
                                 version)
            return self._current

    def answer(self, sparql: str, solutions_format: str | None,
               graph_format: str | None) -> SerializedResult | None:
        """The answer, or ``None``: the query goes to a query process."""
        from .cost import STREAM_BUDGET_S, STREAM_MAX_BYTES, count_query

        plan = self.cost.plan(sparql)
        if plan is None:
            return None
        try:
            store, version = self.store()

            def counts(patterns: Any, cap: int) -> list[int]:
                # kgraph's own text, from terms: straight to the engine
                row = next(iter(store.native.query(count_query(patterns, cap),
                                                   use_default_graph_as_union=True)))
                return [int(row[i].value) for i in range(len(patterns))]

            if not self.cost.bounded(plan, counts, version):
                self.handed_on += 1
                return None
            # a streaming answer is bounded while it is written; a counted one already is
            out = _Here(time.monotonic() + STREAM_BUDGET_S if plan.streaming else math.inf,
                        STREAM_MAX_BYTES)
            self.writer.serialized(store, ("q", sparql, None, None, solutions_format,
                                           graph_format), out)
        except _NotAcceptable as exc:
            raise _error("NotAcceptable", exc.kind, 406) from None
        except Exception:  # noqa: BLE001 - a bound passed, or an error: the query process
            self.handed_on += 1  # answers (and words the error) as for any other query
            return None
        self.answered += 1
        kind, media = out.head.decode().split("\n", 1)
        return SerializedResult(kind, media, _Kept(out.chunks))


# == the worker's side ==================================================================
class _Engine:
    """One executor process: ``threads`` sockets, one thread each, sharing one store."""

    def __init__(self, root: Path, threads: int) -> None:
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(threads)]
        code = ("import sys; from kgraph.store.pool import executor_main as m; "
                "raise SystemExit(m(sys.argv[1], sys.argv[2], int(sys.argv[3])))")
        env = {**os.environ, "PYTHONPATH": _pythonpath(), **malloc_env()}
        fds = [child.fileno() for _, child in pairs]
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, ",".join(map(str, fds)), str(root),
                 str(os.getpid())], pass_fds=fds, env=env, stdin=subprocess.DEVNULL)
        finally:
            for _, child in pairs:
                child.close()
        self.pid = self.proc.pid
        #: Set when the pool kills it: requests on its other sockets were lost with it,
        #: through no fault of their own (they may be sent again).
        self.discarded = False
        self.slots = [_Process(self, parent) for parent, _ in pairs]

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        for slot in self.slots:
            with contextlib.suppress(OSError):
                slot.sock.close()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)


class _Process:
    """One request slot of an executor process (its own socket), seen from the worker."""

    def __init__(self, engine: _Engine, sock: socket.socket) -> None:
        self.engine = engine
        self.proc = engine.proc
        self.pid = engine.pid
        self.sock = sock

    def kill(self) -> None:
        self.engine.kill()


#: Where Debian's ``libjemalloc2`` puts the library (``apt-get install libjemalloc2``).
JEMALLOC = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
            "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2",
            "/usr/local/lib/libjemalloc.so.2")


@functools.lru_cache(maxsize=1)
def malloc_env() -> dict[str, str]:
    """The allocator of executor processes: jemalloc when it is installed (measured on
    the benchmark's engine-bound queries, 8 at once on 2 cores: about a quarter less CPU
    per query than glibc's malloc, whose arenas the engine's many short-lived
    allocations thrash). ``KGRAPH_EXECUTOR_MALLOC``: ``auto`` (default), ``system``, or
    the path of a malloc library to preload."""
    choice = os.environ.get("KGRAPH_EXECUTOR_MALLOC", "auto")
    if choice == "system":
        return {}
    found = next((p for p in JEMALLOC if os.path.exists(p)), None) if choice == "auto" \
        else (choice if os.path.exists(choice) else None)
    if found is None:
        return {}
    preload = os.environ.get("LD_PRELOAD", "")
    if found in preload.split():
        return {}
    return {"LD_PRELOAD": found + (" " + preload if preload else "")}


def _pythonpath() -> str:
    src = str(resources.package_dir().parent)  # src/ in a checkout, site-packages installed
    rest = os.environ.get("PYTHONPATH")
    return src + (os.pathsep + rest if rest else "")


class ExecutorPool:
    """``size`` request slots in executor processes of ``threads_per_process`` threads
    each; at most ``max_queue`` callers wait for a slot, each at most
    ``queue_timeout_s`` (then :class:`StoreBusyError`)."""

    def __init__(self, root: Path, size: int, max_queue: int, queue_timeout_s: float,
                 threads_per_process: int = 1) -> None:
        self.root = root
        self.size = max(1, size)
        self.per_process = max(1, min(threads_per_process, self.size))
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._idle: list[_Process] = []
        self._all: set[_Process] = set()
        self._waiting = 0
        self._cond = threading.Condition()
        self._closed = False
        # Children are started from one thread that lives as long as this process: the
        # kernel's parent-death signal is tied to the thread that forked.
        self._spawns: queue.SimpleQueue[int] = queue.SimpleQueue()
        threading.Thread(target=self._spawner, name="kgraph-executor-spawner",
                         daemon=True).start()
        for _ in range(-(-self.size // self.per_process)):
            self._spawns.put(1)

    def _spawner(self) -> None:
        while True:
            try:
                self._spawns.get(timeout=REAP_INTERVAL_S)
            except queue.Empty:
                self._reap_idle()
                continue
            if self._closed:
                return
            try:
                engine = _Engine(self.root, self.per_process)
            except OSError:
                time.sleep(0.5)
                self._spawns.put(1)
                continue
            with self._cond:
                for slot in engine.slots:
                    self._all.add(slot)
                    self._idle.append(slot)
                self._cond.notify(len(engine.slots))

    def _reap_idle(self) -> None:
        """Replace idle executors that died (killed from outside, out of memory): the pool
        is back to full strength within a reap interval, not when a request next meets
        the dead one."""
        with self._cond:
            dead = {p.engine for p in self._idle if p.proc.poll() is not None}
        for engine in dead:
            self.discard(engine.slots[0])

    def acquire(self) -> _Process:
        with self._cond:
            if self._idle:
                return self._idle.pop()
            if self._waiting >= self.max_queue:
                raise StoreBusyError(f"all {self.size} query processes are busy and "
                                     f"{self._waiting} requests wait; retry later")
            self._waiting += 1
            try:
                if not self._cond.wait_for(lambda: self._idle, self.queue_timeout_s):
                    raise StoreBusyError(f"no query process became free within "
                                         f"{self.queue_timeout_s:g} s; retry later")
                return self._idle.pop()
            finally:
                self._waiting -= 1

    def release(self, proc: _Process) -> None:
        with self._cond:
            if proc.engine.discarded:  # its process was killed meanwhile (another request's)
                return
            self._idle.append(proc)
            self._cond.notify()

    def discard(self, proc: _Process) -> None:
        """Kill an executor process (timed out, crashed, or abandoned mid-answer) and
        replace it; requests on its other threads are lost with it (see
        :class:`_LostWithOther`)."""
        engine = proc.engine
        with self._cond:
            if engine.discarded:
                return
            engine.discarded = True
            for slot in engine.slots:
                self._all.discard(slot)
                if slot in self._idle:
                    self._idle.remove(slot)
        engine.kill()
        if not self._closed:
            self._spawns.put(1)

    def pids(self) -> list[int]:
        """The executor processes' ids."""
        with self._cond:
            return sorted({p.pid for p in self._all})

    def close(self) -> None:
        self._closed = True
        self._spawns.put(1)
        with self._cond:
            engines = {p.engine for p in self._all}
            self._all.clear()
            self._idle.clear()
        for engine in engines:
            engine.discarded = True
            engine.kill()


class _LostWithOther(EngineCrashError):
    """The executor process was killed for another request on another of its threads
    before this request's first byte: the request may be sent again."""


class _Call:
    """One request to one executor: its frames, read against the deadline.

    The executor goes back to the pool as soon as the last frame is read; an
    answer abandoned half-way, a time limit or a crash kills it instead.
    """

    def __init__(self, pool: ExecutorPool, request: bytes, timeout_s: float | None,
                 what: str) -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self.what = what
        self.buf = b""
        frame = _LEN.pack(len(request)) + request
        attempts = pool.size + 1  # every idle one may have died; a fresh one cannot have
        for attempt in range(attempts):
            self.proc: _Process | None = pool.acquire()
            self.deadline = time.monotonic() + timeout_s if timeout_s else None
            try:
                self.proc.sock.sendall(frame)
                return
            except OSError:  # it died while idle (nothing of this request ran): another one
                self._fail()
                if attempt == attempts - 1:
                    raise EngineCrashError(f"the query process ended before reading this "
                                           f"{what}; retry it") from None

    def _fail(self) -> None:
        if self.proc is not None:
            self.pool.discard(self.proc)
            self.proc = None

    def _fill(self) -> None:
        proc = self.proc
        assert proc is not None
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self._timeout()
            proc.sock.settimeout(remaining)
        try:
            data = proc.sock.recv(_RECV)
        except TimeoutError:
            self._timeout()
        except OSError:
            data = b""
        if not data:
            lost = proc.engine.discarded  # killed for another request on another thread
            try:
                code = proc.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            self._fail()
            if lost:
                raise _LostWithOther(f"the process evaluating this {self.what} was stopped "
                                     "for another request; retry it")
            if code == -signal.SIGKILL:  # killed from outside (an operator, the OOM killer)
                error = EngineCrashError(f"the process evaluating this {self.what} was killed "
                                         "from outside; only this request was lost, retry it")
                error.killed = True
                raise error
            raise EngineCrashError(f"the process evaluating this {self.what} ended abnormally "
                                   "(e.g. the engine ran out of stack); only this request "
                                   "was lost")
        self.buf = self.buf + data if self.buf else data

    def _timeout(self) -> None:
        self._fail()
        raise QueryTimeoutError(f"{self.what} exceeded the {self.timeout_s:g} s time limit "
                                "and was stopped")

    def frames(self) -> Iterator[tuple[bytes, bytes]]:
        try:
            while True:
                while len(self.buf) < 5:
                    self._fill()
                kind, size = _FRAME.unpack_from(self.buf, 0)
                while len(self.buf) < 5 + size:
                    self._fill()
                payload = self.buf[5:5 + size]
                self.buf = self.buf[5 + size:]
                if kind == b"E":
                    self._done()
                    return
                if kind == b"X":
                    self._done()
                    name, message, status = marshal.loads(payload)
                    raise _error(name, message, status)
                yield kind, payload
        finally:
            if self.proc is not None:  # abandoned before the end
                self._drain()

    def _drain(self) -> None:
        """Read the rest of an abandoned answer when it is small and comes at once (the
        executor is then reused: a client cannot make it respawn with cheap requests);
        otherwise kill the executor, whose state is unknown."""
        proc = self.proc
        assert proc is not None
        end = time.monotonic() + DRAIN_S
        if self.deadline is not None:
            end = min(end, self.deadline)
        budget = DRAIN_BYTES
        try:
            while True:
                while len(self.buf) >= 5:
                    kind, size = _FRAME.unpack_from(self.buf, 0)
                    if len(self.buf) < 5 + size:
                        break
                    self.buf = self.buf[5 + size:]
                    if kind in (b"E", b"X"):
                        self._done()
                        return
                remaining = end - time.monotonic()
                if remaining <= 0 or budget <= 0:
                    break
                proc.sock.settimeout(remaining)
                data = proc.sock.recv(_RECV)
                if not data:
                    break
                budget -= len(data)
                self.buf += data
        except OSError:
            pass
        self._fail()

    def _done(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.sock.settimeout(None)
            except OSError:
                # The answer is whole, but its process was killed meanwhile for another
                # thread's request (its socket is closed): nothing to hand back.
                if proc.engine.discarded:
                    return
                raise
            self.pool.release(proc)


class _Chunks:
    """The bytes of an answer as they arrive; ``close()`` gives up the rest (the executor
    is then drained or replaced at once, not when the garbage collector gets to it)."""

    def __init__(self, first: tuple[bytes, bytes] | None,
                 frames: Iterator[tuple[bytes, bytes]]) -> None:
        self._first = first
        self._frames = frames
        if first is None:
            frames.close()

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            data, self._first = self._first[1], None
            return data
        return next(self._frames)[1]

    def close(self) -> None:
        self._first = None
        self._frames.close()


def _error(name: str, message: str, status: int) -> Exception:
    if name == "NotAcceptable":
        kind = {"graph": "CONSTRUCT or DESCRIBE", "boolean": "ASK"}.get(message, "SELECT")
        return ProtocolError(406, f"cannot produce an acceptable media type for a {kind} "
                                  "answer (see the formats offered in the documentation)")
    if name == "ResultTooLargeError":
        return fmt.ResultTooLargeError(status)  # the limit travels in the status slot
    return ERRORS.get(name, StoreError)(message)


def _marshal(*request: Any) -> bytes:
    return b"M" + marshal.dumps(request)


def _pickle(*request: Any) -> bytes:
    return b"P" + pickle.dumps(request, pickle.HIGHEST_PROTOCOL)


def _dataset_wire(dataset: DatasetSpec | None) -> Any:
    if dataset is None:
        return None
    return (None if dataset.default_graphs is None else tuple(dataset.default_graphs),
            None if dataset.named_graphs is None else tuple(dataset.named_graphs))


class PooledStore:
    """The :class:`kgraph.store.base.Store` of one HTTP worker process.

    Queries run in executor processes over published snapshots; writes go to
    the single writer process, which publishes a new snapshot before it
    acknowledges. Every query reads the published version first, so a write
    acknowledged here is seen by every later query in every process.
    """

    name = "oxigraph"
    read_only = False

    def __init__(self, settings: Settings, store_dir: Path, writer: WriterClient | None) -> None:
        self.settings = settings
        self.root = snapshots_root(store_dir)
        self.counter = VersionCounter(self.root)
        self.pool = ExecutorPool(self.root, settings.threads, settings.max_queue,
                                 settings.queue_timeout_s, _threads_per_process())
        self.writer = writer
        #: Requests sent again after being lost with a process killed for another one.
        self.resent = 0
        #: Cheap queries answered here, without a query process (``KGRAPH_LOCAL_QUERIES=1``;
        #: off by default: on 2 cores it measured slower than the hop, see docs/store.md).
        self.local = (_LocalAnswers(self.root, self.counter)
                      if os.environ.get("KGRAPH_LOCAL_QUERIES", "0") == "1" else None)

    @classmethod
    def from_env(cls, settings: Settings) -> PooledStore:
        """The store of a granian worker started by :mod:`kgraph.serve`."""
        from .writer import ENV_STORE_DIR

        return cls(settings, Path(os.environ[ENV_STORE_DIR]), WriterClient.from_env(settings))

    def version(self) -> int:
        """The published snapshot version (shared by every process of this server)."""
        return self.counter.read()

    def _limit(self, timeout_s: float | None) -> float | None:
        return timeout_s if timeout_s is not None else (self.settings.query_timeout_s or None)

    # -- queries ---------------------------------------------------------------------
    def query_serialized(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
        solutions_format: str | None = None,
        graph_format: str | None = None,
    ) -> SerializedResult:
        """Run a query and have its executor write the answer.

        ``solutions_format`` (SELECT, ASK) and ``graph_format`` (CONSTRUCT,
        DESCRIBE) are canonical media types; ``None`` means the client accepts
        none for that kind (:class:`~kgraph.sparql.protocol.ProtocolError` 406).
        Errors before the first byte are raised here; after it, a time limit
        raises :class:`QueryTimeoutError` from the chunk iterator (the response
        is cut).
        """
        if self.local is not None and base_iri is None and (dataset is None or (
                dataset.default_graphs is None and dataset.named_graphs is None)):
            here = self.local.answer(sparql, solutions_format, graph_format)
            if here is not None:
                return here
        frames = self._first(_marshal("q", sparql, _dataset_wire(dataset), base_iri,
                                      solutions_format, graph_format), self._limit(timeout_s))
        kind, payload = next(frames)
        assert kind == b"H"
        kind_name, media = payload.decode().split("\n", 1)
        first = next(frames, None)
        return SerializedResult(kind_name, media, _Chunks(first, frames))

    def query(
        self,
        sparql: str,
        *,
        dataset: DatasetSpec | None = None,
        base_iri: str | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        """Rows of terms, for internal callers (bootstrap, reasoning, /health)."""
        frames = self._first(_marshal("r", sparql, _dataset_wire(dataset), base_iri),
                             self._limit(timeout_s))
        _, payload = next(frames)
        kind, value = pickle.loads(payload)
        if kind == "ask":
            for _ in frames:
                pass
            return AskResult(value)
        items = _unbatched(frames)
        if kind == "select":
            return SelectResult(value, items)
        return GraphResult(items, value)

    def _frames(self, request: bytes, timeout_s: float | None,
                what: str = "query") -> Iterator[tuple[bytes, bytes]]:
        """The frames of an answer. A request lost with an executor process that was killed
        for another request (several threads per process) before its first frame is sent
        again, with what remains of its time limit, up to ``RESENDS`` times."""
        start = time.monotonic()
        attempt = 0
        while True:
            left = None if timeout_s is None else max(0.001, timeout_s - (time.monotonic()
                                                                          - start))
            frames = _Call(self.pool, request, left, what).frames()
            given = False
            try:
                for frame in frames:
                    given = True
                    yield frame
                return
            except _LostWithOther:
                if given or attempt >= RESENDS:
                    raise
                attempt += 1
                self.resent += 1
            finally:
                frames.close()

    def _first(self, request: bytes, timeout_s: float | None) -> Iterator[tuple[bytes, bytes]]:
        """:meth:`_frames` of a query, its first frame already read (so errors before the
        answer's first byte are raised here)."""
        frames = self._frames(request, timeout_s)
        first = next(frames)
        return _prepend(first, frames)

    def _read(self, request: bytes, what: str = "read") -> Iterator[Any]:
        return _unbatched(self._frames(request, self._limit(None), what))

    def _value(self, request: bytes) -> Any:
        frames = self._frames(request, self._limit(None), "read")
        _, payload = next(frames)
        for _ in frames:
            pass
        return pickle.loads(payload)

    def match(self, subject: Any = None, predicate: Any = None, object: Any = None,  # noqa: A002
              graph: Any = ...) -> Iterator[Quad]:
        return self._read(_pickle("match", subject, predicate, object, graph))

    def triples(self, graph: str | None) -> Iterator[Triple]:
        return self._read(_marshal("triples", graph))

    def quads(self) -> Iterator[Quad]:
        return self._read(_marshal("quads"))

    def named_graphs(self) -> list[str]:
        return self._value(_marshal("named_graphs"))

    def contains_graph(self, graph: str) -> bool:
        return self._value(_marshal("contains_graph", graph))

    def count(self, graph: Any = None, /, *, all_graphs: bool = False) -> int:
        """Quads in one graph (``None``: the default graph), or in all (``...`` or
        ``all_graphs``)."""
        return self._value(_pickle("count", graph, all_graphs))

    def dump(self, output: IO[bytes], media_type: str) -> None:
        for _, data in self._frames(_marshal("dump", media_type), None, "dump"):
            output.write(data)

    # -- writes ----------------------------------------------------------------------
    def _write(self, op: str, *args: Any, timeout_s: float | None = None) -> Any:
        if self.writer is None:
            from .base import StoreReadOnlyError

            raise StoreReadOnlyError("this store is read-only; nothing was changed")
        return self.writer.call(op, *args, timeout_s=self._limit(timeout_s))

    def update(self, sparql: str, *, base_iri: str | None = None,
               timeout_s: float | None = None) -> None:
        self._write("update", sparql, base_iri, timeout_s=timeout_s)

    def load(self, data: bytes | IO[bytes], media_type: str, *, graph: str | None = None,
             base_iri: str | None = None) -> int:
        body = data if isinstance(data, bytes | bytearray) else data.read()
        return int(self._write("load", bytes(body), media_type, graph, base_iri))

    def add_quads(self, quads: Iterable[Quad]) -> None:
        self._write("add_quads", _nquads(quads))

    def replace_graph(self, graph: str | None, quads: Iterable[Quad]) -> None:
        self._write("replace_graph", graph, _nquads(quads))

    def drop_graph(self, graph: str | None) -> bool:
        return bool(self._write("drop_graph", graph))

    def bulk_load(self, paths: Sequence[Path], *, graph: str | None = None,
                  progress: Callable[..., None] | None = None) -> int:
        """Files loaded while the server runs: parsed here, stored as one write (all or
        nothing). Memory grows with the files; ``kgraph load`` on a stopped server streams
        through the engine's bulk loader instead."""
        from ..rdf import media_type_for, parse_rdf

        quads: list[Quad] = []
        for path in paths:
            data = Path(path).read_bytes()
            quads.extend(parse_rdf(data, media_type_for(Path(path)), graph=graph,
                                   base_iri=Path(path).resolve().as_uri()))
            if progress is not None:
                progress(len(data), data.count(b"\n"))
        self.add_quads(quads)
        return len(quads)

    def close(self) -> None:
        self.pool.close()
        if self.writer is not None:
            self.writer.close()
        self.counter.close()


def _prepend(first: tuple[bytes, bytes],
             frames: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """``first``, then ``frames``; closing it closes ``frames`` (which drains or replaces
    the executor at once)."""
    try:
        yield first
        yield from frames
    finally:
        frames.close()  # type: ignore[attr-defined]


#: Query threads per executor process unless ``KGRAPH_EXECUTOR_THREADS`` says otherwise:
#: with the default 4 query slots, one process per worker (measured in docs/store.md:
#: one shared store and allocator use less CPU per query than a process per query).
THREADS_PER_PROCESS = 4


def _threads_per_process() -> int:
    """Query threads per executor process (``KGRAPH_EXECUTOR_THREADS``; 1: a process per
    query, so that stopping one query never touches another)."""
    try:
        return max(1, int(os.environ.get("KGRAPH_EXECUTOR_THREADS", THREADS_PER_PROCESS)))
    except ValueError:
        return THREADS_PER_PROCESS


def _nquads(quads: Iterable[Quad]) -> bytes:
    return serialize(list(quads), format=RdfFormat.N_QUADS) or b""


def _unbatched(frames: Iterator[tuple[bytes, bytes]]) -> Iterator[Any]:
    for _, payload in frames:
        yield from pickle.loads(payload)


Factory = Callable[[], PooledStore]
