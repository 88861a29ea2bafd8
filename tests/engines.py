"""Real SPARQL engines on loopback for tests: Oxigraph server and Virtuoso 7.

Each engine runs once per test session on a free 127.0.0.1 port with its own
database directory under pytest's temporary folder, and is stopped at the end.
A missing engine binary skips the tests that need it, with the reason, unless
``CI`` is set: in CI a missing engine is a failure (``scripts/setup.sh --test``
installs both).

Use from a test module::

    from .engines import engine_fixture, virtuoso_engine_fixture, ...  # noqa: F401

    @pytest.mark.parametrize("engine", ["oxigraph", "virtuoso"], indirect=True)
    def test_x(engine): store = engine.store()

or ``kgraph_server(engine, tmp_path)`` for a kgraph server process over the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from kgraph.store.remote import RemoteStore

from .support import ServerProcess

ENGINES = ("oxigraph", "virtuoso")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_us() -> None:
    """In the engine's process before exec: the kernel kills it if the test run dies
    (even by ``kill -9``), so no engine outlives its tests."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _missing(binary: str, hint: str) -> None:
    message = f"{binary} is not installed ({hint})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the engine tests", pytrace=False)
    pytest.skip(message)


@dataclass
class Engine:
    """A running engine: its endpoints, credentials and process."""

    kind: str
    query_url: str
    update_url: str
    graph_store_url: str
    auth: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    workdir: Path | None = None

    def store(self, **options: object) -> RemoteStore:
        """A fresh :class:`RemoteStore` on this engine (profile named, not detected)."""
        kwargs: dict[str, object] = {
            "update_url": self.update_url, "graph_store_url": self.graph_store_url,
            "profile": self.kind, "auth": self.auth, "user": self.user,
            "password": self.password}
        kwargs.update(options)
        return RemoteStore(self.query_url, **kwargs)  # type: ignore[arg-type]

    def server_args(self) -> list[str]:
        """``server.py`` arguments that point kgraph at this engine."""
        return ["--store", self.query_url, "--update-endpoint", self.update_url,
                "--graph-store", self.graph_store_url]

    def server_env(self) -> dict[str, str]:
        """Environment with the engine's credentials, as kgraph reads them."""
        env = {"KGRAPH_STORE_PROFILE": self.kind}
        if self.auth:
            env.update(KGRAPH_STORE_AUTH=self.auth, KGRAPH_STORE_USER=self.user or "",
                       KGRAPH_STORE_PASSWORD=self.password or "")
        return env

    def clear(self) -> None:
        """Remove every graph kgraph can see (the engine's own system graphs stay)."""
        store = self.store()
        for graph in store.named_graphs():
            store.drop_graph(graph)
        store.drop_graph(None)
        store.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and \
            self.log_path.exists() else ""


def _wait_ready(engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.proc is not None and engine.proc.poll() is not None:
            raise RuntimeError(f"{engine.kind} exited at start:\n{engine.log()[-3000:]}")
        try:
            r = requests.post(engine.query_url, data={"query": "ASK {}"}, timeout=2,
                              headers={"Accept": "application/sparql-results+xml"})
            if r.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    engine.stop()
    raise RuntimeError(f"{engine.kind} did not answer within {timeout:g} s:\n{engine.log()[-3000:]}")


def oxigraph_binary() -> str | None:
    local = Path(sys.executable).parent / "oxigraph"
    return str(local) if local.exists() else shutil.which("oxigraph")


def start_oxigraph(workdir: Path) -> Engine:
    """Oxigraph server (PyPI ``oxigraph``) over a RocksDB directory in ``workdir``."""
    binary = oxigraph_binary()
    if binary is None:
        _missing("oxigraph", "pip install oxigraph, part of the test extra")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / "oxigraph.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the process writes it until stop()
    # --timeout-s: Oxigraph server does not stop a query whose client went away (measured:
    # a cross join kept a core busy for minutes after kgraph's time limit had answered 503).
    proc = subprocess.Popen([binary, "serve", "--location", str(workdir / "db"),  # type: ignore[list-item]
                             "--bind", f"127.0.0.1:{port}", "--timeout-s", "10"],
                            stdout=log, stderr=log, preexec_fn=_die_with_us)
    log.close()
    engine = Engine("oxigraph", f"{base}/query", f"{base}/update", f"{base}/store",
                    proc=proc, log_path=log_path, workdir=workdir)
    _wait_ready(engine, 30)
    return engine


VIRTUOSO_INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
CaseMode = 2
DirsAllowed = ., {db}
NumberOfBuffers = 20000
MaxDirtyBuffers = 15000
ThreadsPerQuery = 2
CheckpointInterval = 60

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {root}
ServerThreads = 10
MaxKeepAlives = 10
KeepAliveTimeout = 10
Charset = UTF-8

[SPARQL]
; no silent cut of large answers, no server-side limit: kgraph sets one per request
ResultSetMaxRows = 100000000
MaxQueryExecutionTime = 0
MaxQueryCostEstimationTime = 0
"""


def start_virtuoso(workdir: Path) -> Engine:
    """Virtuoso 7 (``virtuoso-t``) with its own ini, database directory and ports;
    the ``dba`` password is changed to a random one before any test runs."""
    binary = shutil.which("virtuoso-t")
    if binary is None:
        _missing("virtuoso-t", "apt-get install virtuoso-opensource; scripts/setup.sh --test")
    isql = shutil.which("isql-vt") or shutil.which("isql")
    db = workdir / "db"
    db.mkdir(parents=True)
    http_port, sql_port = free_port(), free_port()
    root = Path("/var/lib/virtuoso-opensource-7/vsp")
    if not root.is_dir():
        root = workdir / "vsp"
        root.mkdir()
    ini = workdir / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(db=db, sql_port=sql_port, http_port=http_port, root=root))
    log_path = workdir / "virtuoso.out"
    log = open(log_path, "wb")  # noqa: SIM115 - the process writes it until stop()
    proc = subprocess.Popen([binary, "+foreground", "+configfile", str(ini)],  # type: ignore[list-item]
                            cwd=db, stdout=log, stderr=log, preexec_fn=_die_with_us)
    log.close()
    base = f"http://127.0.0.1:{http_port}"
    password = "dba"
    engine = Engine("virtuoso", f"{base}/sparql", f"{base}/sparql-auth",
                    f"{base}/sparql-graph-crud-auth", auth="digest", user="dba",
                    password=password, proc=proc, log_path=log_path, workdir=workdir)
    _wait_ready(engine, 90)
    if isql is not None:
        password = "kg-" + secrets.token_hex(8)
        out = subprocess.run([isql, f"127.0.0.1:{sql_port}", "dba", "dba",
                              f"exec=user_set_password('dba', '{password}');"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            engine.stop()
            raise RuntimeError(f"could not set Virtuoso's dba password: {out.stdout}{out.stderr}")
        engine.password = password
    return engine


_STARTERS = {"oxigraph": start_oxigraph, "virtuoso": start_virtuoso}


@pytest.fixture(scope="session", name="oxigraph_engine")
def oxigraph_engine_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_oxigraph(tmp_path_factory.mktemp("oxigraph"))
    yield engine
    engine.stop()


@pytest.fixture(scope="session", name="virtuoso_engine")
def virtuoso_engine_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = start_virtuoso(tmp_path_factory.mktemp("virtuoso"))
    yield engine
    engine.stop()


@pytest.fixture(name="engine")
def engine_fixture(request: pytest.FixtureRequest) -> Engine:
    """The engine named by the test's parameter (``indirect=True``), emptied first."""
    kind = getattr(request, "param", "oxigraph")
    if kind not in _STARTERS:
        raise ValueError(f"unknown engine {kind!r}; known: {', '.join(ENGINES)}")
    running: Engine = request.getfixturevalue(f"{kind}_engine")
    running.clear()
    return running


@pytest.fixture(name="engine_store")
def engine_store_fixture(engine: Engine) -> Iterator[RemoteStore]:
    """A :class:`RemoteStore` on the (emptied) engine of the test."""
    store = engine.store()
    yield store
    store.close()


def kgraph_server(engine: Engine, workdir: Path, args: list[str] | None = None,
                  env: dict[str, str] | None = None) -> ServerProcess:
    """A started ``server.py`` that keeps its data in ``engine`` (not in a local store).

    ``ServerProcess`` passes ``--store DIR`` first; the engine's ``--store URL``
    comes later on the command line and wins.
    """
    server = ServerProcess(workdir / "kgraph-remote", [*engine.server_args(), *(args or [])],
                           {**engine.server_env(), **(env or {})})
    return server.start()

