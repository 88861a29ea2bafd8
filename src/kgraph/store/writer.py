"""The single writer process: the only process that opens the store read-write.

RocksDB admits one writing process, so every write of every HTTP worker comes
here over a Unix socket (``multiprocessing.connection`` with an authkey: only
processes of this server can talk to it) and is applied one at a time. After
each successful write the writer checkpoints the store and publishes the new
version (:mod:`kgraph.store.snapshots`) *before* it acknowledges, so a write
acknowledged to a client is seen by every later query of every process.

A write that runs past its time limit is stopped by killing this process
(its transaction is never committed: RocksDB applies a write batch whole or
not at all); the supervisor starts a new writer on the same socket.

Run by the supervisor as ``python -m kgraph.store.writer`` with its
configuration in the environment (see :class:`WriterProcess`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from .. import resources
from ..config import Settings
from .base import (
    EngineCrashError,
    QueryTimeoutError,
    RdfSyntaxError,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)

log = logging.getLogger("kgraph.writer")

ENV_SETTINGS = "KGRAPH_SERVE_SETTINGS"
ENV_STORE_DIR = "KGRAPH_SERVE_STORE_DIR"
ENV_ADDRESS = "KGRAPH_SERVE_WRITER"
ENV_AUTHKEY = "KGRAPH_SERVE_AUTHKEY"
ENV_BOOTSTRAP = "KGRAPH_SERVE_BOOTSTRAP"

#: Exceptions that cross the socket as themselves (by class name); others become StoreError.
ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (SparqlSyntaxError, SparqlEvaluationError, RdfSyntaxError, StoreError,
                StoreReadOnlyError, StoreBusyError, QueryTimeoutError, EngineCrashError,
                ValueError, KeyError)
}


# -- process plumbing shared by the supervisor, the writer and the executors ----------
def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent ends (even by ``kill -9``).

    Linux ties the signal to the parent *thread*: callers spawn children from a
    thread that lives as long as the parent process.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request took effect


def settings_to_json(settings: Settings) -> str:
    """Settings for a spawned process (they cannot inherit the object)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = {"__path__": str(value)}
        elif isinstance(value, tuple):
            value = {"__tuple__": list(value)}
        out[f.name] = value
    return json.dumps(out)


def settings_from_json(text: str) -> Settings:
    def decode(value: Any) -> Any:
        if isinstance(value, dict) and "__path__" in value:
            return Path(value["__path__"])
        if isinstance(value, dict) and "__tuple__" in value:
            return tuple(value["__tuple__"])
        return value

    return Settings(**{k: decode(v) for k, v in json.loads(text).items()})


# -- the writer process ----------------------------------------------------------------
class _Writer:
    def __init__(self, store: Any, publisher: Any) -> None:
        self.store = store
        self.publisher = publisher
        self.lock = threading.Lock()

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        """Apply one write (the caller holds ``lock``) and publish its snapshot."""
        from pyoxigraph import RdfFormat, parse

        op, *args = request
        try:
            if op == "update":
                value = self.store.update(args[0], base_iri=args[1])
            elif op == "add_quads":
                value = self.store.add_quads(parse(args[0], format=RdfFormat.N_QUADS))
            elif op == "replace_graph":
                value = self.store.replace_graph(
                    args[0], list(parse(args[1], format=RdfFormat.N_QUADS)))
            elif op == "drop_graph":
                value = self.store.drop_graph(args[0])
            elif op == "load":
                value = self.store.load(args[0], args[1], graph=args[2], base_iri=args[3])
            else:
                return ("err", "StoreError", f"unknown write operation {op!r}")
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
            return ("err", type(exc).__name__, str(exc))
        try:
            version = self.publisher.publish(self.store.backup)
        except Exception as exc:  # noqa: BLE001
            log.exception("cannot publish a snapshot")
            return ("err", "StoreError", f"the write was applied but not published: {exc}")
        return ("ok", value, version)

    def serve(self, conn: Connection) -> None:
        """One client's requests. Each write is announced with ``started`` once it holds
        the lock: a client that loses the writer before that knows nothing was done."""
        with conn:
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                if request[0] == "hello":
                    conn.send(("ok", os.getpid(), self.publisher.version))
                    continue
                with self.lock:
                    if conn.poll(0):  # the client gave up (closed) while waiting: skip
                        return
                    try:
                        conn.send(("started",))
                        conn.send(self.handle(request))
                    except OSError:
                        return


def writer_main() -> int:
    """Entry point of the writer process."""
    die_with_parent(int(os.environ.get("KGRAPH_SERVE_PARENT", "0")) or None)
    from ..web.logs import configure_logging

    configure_logging()  # JSON lines on stderr, like the workers'
    # Updates are parsed by the engine in the threads that serve each connection: give
    # them the main thread's 8 MiB whatever the platform's default, since the nesting
    # limits of kgraph.sparql.guard were measured against that (docs/security.md).
    threading.stack_size(8 * 1024 * 1024)
    from ..bootstrap import ensure_loaded
    from .oxigraph import OxigraphStore
    from .snapshots import Publisher

    settings = settings_from_json(os.environ[ENV_SETTINGS])
    store_dir = Path(os.environ[ENV_STORE_DIR])
    try:
        store = OxigraphStore(store_dir)
    except StoreError as exc:
        print(f"error {exc}", flush=True)
        return 1
    if os.environ.get(ENV_BOOTSTRAP) == "1":
        ensure_loaded(store, settings)
    publisher = Publisher(store_dir, settings.query_timeout_s + 30)
    publisher.publish(store.backup)
    writer = _Writer(store, publisher)
    listener = Listener("\0" + os.environ[ENV_ADDRESS], "AF_UNIX",
                        authkey=bytes.fromhex(os.environ[ENV_AUTHKEY]))
    print(f"ready {publisher.version}", flush=True)

    def stop(_signo: int, _frame: object) -> None:
        with writer.lock:  # never in the middle of a write
            store.close()
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the supervisor decides

    def collect() -> None:  # superseded snapshots go even when no write comes to publish
        while True:
            time.sleep(max(1.0, publisher.grace_s / 2))
            with writer.lock:
                publisher.collect()

    threading.Thread(target=collect, name="kgraph-snapshot-collector", daemon=True).start()
    while True:
        try:
            conn = listener.accept()
        except Exception:  # noqa: BLE001 - a client that fails the handshake
            continue
        threading.Thread(target=writer.serve, args=(conn,), daemon=True).start()


class WriterProcess:
    """The supervisor's handle on the writer: start, wait until ready, restart, stop."""

    def __init__(self, settings: Settings, store_dir: Path) -> None:
        self.settings = settings
        self.store_dir = store_dir
        #: An abstract Unix socket name (no file; "\0" is prepended when used).
        self.address = f"kgraph-writer-{os.getpid()}-{secrets.token_hex(8)}"
        self.authkey = secrets.token_bytes(32)
        self.proc: subprocess.Popen[str] | None = None
        self.version = 0
        self._stopping = False
        self._lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """What HTTP workers need to reach the writer."""
        return {ENV_ADDRESS: self.address, ENV_AUTHKEY: self.authkey.hex(),
                ENV_STORE_DIR: str(self.store_dir)}

    def start(self, *, bootstrap: bool) -> None:
        env = {**os.environ, **self.env(), ENV_SETTINGS: settings_to_json(self.settings),
               ENV_BOOTSTRAP: "1" if bootstrap else "0", "KGRAPH_SERVE_PARENT": str(os.getpid())}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from kgraph.store.writer import writer_main as m; "
                                   "raise SystemExit(m())"],
            env={**env, "PYTHONPATH": _pythonpath()}, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.wait()
            raise StoreError(line.removeprefix("error ").strip() or "the writer did not start")
        self.version = int(line.split()[1])

    def watch(self) -> None:
        """Start a thread that restarts the writer whenever it dies (e.g. killed at a
        write's time limit). The thread lives as long as this process, so the
        kernel's parent-death signal stays tied to a living thread."""
        def loop() -> None:
            while True:
                proc = self.proc
                if proc is not None:
                    proc.wait()
                if self._stopping:
                    return
                log.warning("the writer process ended (%s); starting a new one",
                            proc.returncode if proc else "?")
                try:
                    self.start(bootstrap=False)
                except Exception:  # noqa: BLE001 - keep trying: writes fail until it is back
                    log.exception("cannot restart the writer")
                    time.sleep(1)

        threading.Thread(target=loop, name="kgraph-writer-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pythonpath() -> str:
    src = str(resources.package_dir().parent)  # src/ in a checkout, site-packages installed
    rest = os.environ.get("PYTHONPATH")
    return src + (os.pathsep + rest if rest else "")


class WriterClient:
    """A granian worker's connection to the writer (one write in flight at a time)."""

    def __init__(self, address: str, authkey: bytes, *, connect_timeout_s: float = 10.0) -> None:
        self.address = address
        self.authkey = authkey
        self.connect_timeout_s = connect_timeout_s
        self._conn: Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, settings: Settings) -> WriterClient:
        return cls(os.environ[ENV_ADDRESS], bytes.fromhex(os.environ[ENV_AUTHKEY]),
                   connect_timeout_s=max(settings.queue_timeout_s, 5.0))

    def _connect(self, deadline: float) -> Connection:
        while True:
            try:
                conn = Client("\0" + self.address, "AF_UNIX", authkey=self.authkey)
                conn.send(("hello",))
                _, self._pid, _ = conn.recv()
                return conn
            except (OSError, EOFError):
                if time.monotonic() > deadline:
                    raise StoreError("the writer process is not available; nothing was "
                                     "changed") from None
                time.sleep(0.05)

    def call(self, op: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Run one write in the writer; raise its error here; kill it at the time limit.

        A writer that ends before it has started this write (e.g. killed at another
        write's time limit) is waited for and the write sent again to its successor.
        """
        limit = timeout_s if timeout_s else None
        deadline = None if limit is None else time.monotonic() + limit

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if not self._lock.acquire(timeout=-1 if limit is None else limit):
            raise QueryTimeoutError(f"update exceeded the {limit:g} s time limit waiting for "
                                    "other writes; nothing was changed")
        try:
            while True:
                conn = self._ready()
                try:
                    conn.send((op, *args))
                    if not conn.poll(remaining()):
                        self._drop()  # the writer skips a request whose client has gone
                        raise QueryTimeoutError(
                            f"update exceeded the {limit:g} s time limit waiting for other "
                            "writes; nothing was changed")
                    conn.recv()  # ("started",)
                except (EOFError, OSError):
                    self._drop()  # that writer ended before starting this write: retry
                    if deadline is not None and time.monotonic() > deadline:
                        raise StoreError("the writer process is not available; nothing was "
                                         "changed") from None
                    continue
                try:
                    if not conn.poll(remaining()):
                        self._kill()  # its transaction is never committed
                        raise QueryTimeoutError(
                            f"update exceeded the {limit:g} s time limit and was stopped; "
                            "nothing was changed")
                    reply = conn.recv()
                except (EOFError, OSError) as exc:
                    self._drop()
                    raise StoreError("the writer process stopped while applying this write; "
                                     "it was not acknowledged") from exc
                break
        finally:
            self._lock.release()
        if reply[0] == "ok":
            return reply[1]
        _, name, message = reply
        raise ERRORS.get(name, StoreError)(message)

    def _ready(self) -> Connection:
        """A connection to the current writer (a new one if the last writer has ended)."""
        if self._conn is not None:
            try:
                stale = self._conn.poll(0)  # readable while idle: the writer closed it
            except (OSError, EOFError):
                stale = True
            if stale:
                self._drop()
        if self._conn is None:
            self._conn = self._connect(time.monotonic() + self.connect_timeout_s)
        return self._conn

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

if __name__ == "__main__":
    sys.exit(writer_main())
