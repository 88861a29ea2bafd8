"""Processes the benchmark starts, their memory, and the five contestants' start-up.

Every process is started in a session of its own, so stopping it (SIGTERM, then SIGKILL to
its process group, by its id) also stops what it started (granian workers, query processes),
and ``Processes.stop_all`` runs on normal exit, on error and on Ctrl-C: no orphans.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
OXIGRAPH = shutil.which("oxigraph", path=str(VENV_BIN)) or shutil.which("oxigraph") or "oxigraph"
VIRTUOSO_PASSWORD = "dba"  # a fresh database's; the instance lives in a temp dir on loopback
ASK = "ASK {}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class MemorySampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, source: int | Callable[[], int], interval: float = 0.2) -> None:
        """``source``: a pid (its tree is sampled) or a function returning bytes."""
        self.read = source if callable(source) else (lambda: tree_rss(source))  # type: ignore[misc]
        self.interval, self.peak, self.last = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last = self.read()
            self.peak = max(self.peak, self.last)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class Processes:
    """The processes this run started; ``stop_all`` ends each by its own process group."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.running.append(proc)
        return proc

    def run(self, name: str, cmd: list[str], timeout: float, env: dict[str, str] | None = None
            ) -> tuple[float, int, int]:
        """Run ``cmd`` to its end: (seconds, peak RSS of its tree, exit code)."""
        t0 = time.perf_counter()
        proc = self.start(name, cmd, env)
        sampler = MemorySampler(proc.pid, 0.1)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            rc = -9
        finally:
            peak = sampler.stop()
        self._forget(proc)
        return time.perf_counter() - t0, peak, rc

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        if proc in self.running:
            self.running.remove(proc)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM to the process group of ``proc``, SIGKILL after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
        self._forget(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)

    def log(self, name: str, tail: int = 3000) -> str:
        """The end of a process's log (``tail`` characters; 0: all of it)."""
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text[-tail:] if tail else text


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              auth: object = None) -> None:
    """Until ``url`` answers 200 (or the process dies, or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before answering")
        try:
            if requests.get(url, timeout=5, auth=auth).status_code == 200:  # type: ignore[arg-type]
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def wait_log(procs: Processes, name: str, needle: str, proc: subprocess.Popen[bytes],
             timeout: float) -> str:
    """The first log line containing ``needle`` (the server prints its address)."""
    deadline = time.monotonic() + timeout
    path = procs.logs / f"{name}.log"
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if needle in line:
                    return line
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}: {procs.log(name)[-800:]}")
        time.sleep(0.2)
    raise RuntimeError(f"did not print {needle!r} within {timeout:.0f} s")


@dataclass
class Contestant:
    """A running SPARQL endpoint: how to reach it and which processes are its own."""

    key: str
    label: str
    base: str  # http://127.0.0.1:PORT
    path: str  # query path prefix, e.g. /sparql?query=
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    auth: object = None
    notes: list[str] = field(default_factory=list)

    def url(self, query: str) -> str:
        return self.base + self.path + quote(query, safe="")

    def rss(self) -> int:
        return sum(tree_rss(p.pid) for p in self.procs)


# --- starting each contestant ---------------------------------------------------------------


def start_kgraph(procs: Processes, key: str, label: str, store: str, extra: list[str],
                 env: dict[str, str] | None = None, timeout: float = 300) -> Contestant:
    """``python server.py --port 0 --store STORE --no-bootstrap [extra]``; reads its address."""
    name = f"{key}-kgraph"
    cmd = [sys.executable, str(ROOT / "server.py"), "--port", "0", "--store", store,
           "--no-bootstrap", *extra]
    proc = procs.start(name, cmd, {"PYTHONUNBUFFERED": "1", **(env or {})})
    line = wait_log(procs, name, "listening on", proc, timeout)
    base = line.split("listening on ", 1)[1].strip().rsplit("/sparql", 1)[0]
    wait_http(base + "/health", timeout, proc)
    return Contestant(key, label, base, "/sparql?query=", [proc])


def start_oxigraph(procs: Processes, key: str, location: Path, *, read_only: bool = True,
                   union: bool = True) -> Contestant:
    port = free_port()
    cmd = [OXIGRAPH, "serve-read-only" if read_only else "serve", "--location", str(location),
           "--bind", f"127.0.0.1:{port}"]
    if union:
        cmd.append("--union-default-graph")
    proc = procs.start(f"{key}-oxigraph", cmd)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/query?query=" + quote(ASK), 60, proc)
    return Contestant(key, "Oxigraph server", base, "/query?query=", [proc])


def start_rdflib(procs: Processes, data: Path, timeout: float) -> tuple[Contestant, float]:
    """The Flask + rdflib app; returns it and the seconds it took to parse the data."""
    port = free_port()
    t0 = time.perf_counter()
    proc = procs.start("c-rdflib", [sys.executable, str(ROOT / "bench" / "rdflib_app.py"),
                                    str(data), str(port)])
    wait_log(procs, "c-rdflib", "listening on", proc, timeout)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", 60, proc)
    return (Contestant("c", "Flask + rdflib (waitress)", base, "/sparql?query=", [proc]),
            time.perf_counter() - t0)


VIRTUOSO_INI = """[Database]
DatabaseFile = {d}/virtuoso.db
ErrorLogFile = {d}/virtuoso.log
LockFile = {d}/virtuoso.lck
TransactionFile = {d}/virtuoso.trx
xa_persistent_file = {d}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {d}/virtuoso-temp.db
TransactionFile = {d}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = {sql}
LiteMode = 0
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 20
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {data}, /usr/share/virtuoso-opensource-7/vad
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty}
ThreadsPerQuery = 2
MaxQueryMem = 1G
VADInstallDir = /usr/share/virtuoso-opensource-7/vad/

[HTTPServer]
ServerPort = 127.0.0.1:{http}
ServerRoot = /var/lib/virtuoso-opensource-7/vsp
MaxClientConnections = 20
ServerThreads = 20
MaxKeepAlives = 20
KeepAliveTimeout = 10
EnabledDavVSP = 0
HTTPProxyEnabled = 0
Charset = UTF-8

[SPARQL]
ResultSetMaxRows = 100000000
MaxQueryExecutionTime = 120
MaxQueryCostEstimationTime = 0
DefaultGraph =
"""


@dataclass
class Virtuoso:
    """A Virtuoso 7 instance of our own: ini and database under ``folder``, free ports."""

    folder: Path
    proc: subprocess.Popen[bytes]
    sql_port: int
    http_port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def isql(self, sql: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["isql-vt", str(self.sql_port), "dba", VIRTUOSO_PASSWORD,
                               f"exec={sql}"], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def start_virtuoso(procs: Processes, folder: Path, data_dir: Path, triples: int) -> Virtuoso:
    if shutil.which("virtuoso-t") is None or shutil.which("isql-vt") is None:
        raise RuntimeError("virtuoso-t/isql-vt not installed (apt-get install -y "
                           "virtuoso-opensource)")
    folder.mkdir(parents=True, exist_ok=True)
    sql, http = free_port(), free_port()
    buffers = max(20_000, min(170_000, triples // 8))  # 8 KiB pages: ~1 GiB for 10^6 triples
    (folder / "virtuoso.ini").write_text(VIRTUOSO_INI.format(
        d=folder, sql=sql, http=http, data=data_dir, buffers=buffers, dirty=buffers * 3 // 4))
    proc = procs.start("e-virtuoso", ["virtuoso-t", "+foreground", "+configfile",
                                      str(folder / "virtuoso.ini")], cwd=folder)
    v = Virtuoso(folder, proc, sql, http)
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"virtuoso-t exited: {procs.log('e-virtuoso')[-800:]}")
        try:
            if v.isql("status();", timeout=10).returncode == 0:
                break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("virtuoso did not accept isql connections within 120 s")
        time.sleep(0.5)
    wait_http(v.base + "/sparql?query=" + quote(ASK), 60, proc)
    return v


def virtuoso_load(v: Virtuoso, data: Path) -> float:
    """Bulk-load ``data`` (N-Quads keep their graphs) with ld_dir + rdf_loader_run; seconds."""
    t0 = time.perf_counter()
    out = v.isql(f"ld_dir('{data.parent}', '{data.name}', 'urn:kgraph:bench:default'); "
                 "rdf_loader_run(); checkpoint;")
    if out.returncode != 0:
        raise RuntimeError(f"virtuoso bulk load failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    check = v.isql("SELECT ll_state, ll_error FROM DB.DBA.load_list;")
    if "NULL" not in check.stdout or "Error" in check.stdout:
        raise RuntimeError(f"virtuoso bulk load reported: {check.stdout[-500:]}")
    return time.perf_counter() - t0

