"""``python -m bench run``: kgraph against reference endpoints, on the same data, in one run.

Steps (each bounded in time, progress printed):

1. generate the data (``bench/generate.py``), seeded;
2. load it: ``kgraph load`` and ``oxigraph load`` (and Virtuoso's bulk loader), timed, with
   the loader's peak memory;
3. time every query in the embedded engine and classify it (cheap, engine-bound, repeated);
4. per contestant (a) kgraph embedded, (b) Oxigraph server, (c) Flask + rdflib,
   (d) kgraph over Oxigraph server, (e) kgraph over Virtuoso: start it, check its answers
   against Oxigraph server's, run ``wrk`` for every query class at every connection count,
   sample the RSS of its process tree, stop it;
5. a large SELECT streamed from kgraph and Oxigraph: time to first byte, total, server RSS;
6. reasoning time (``kgraph.reasoning.materialize``; owlrl as reference) at given sizes;
7. ratios to Oxigraph server, the issue's targets, and ``latest.md``/``latest.json``/``latest.png``.

A contestant that cannot run is reported "not run: reason"; the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench import generate, workload
from bench.procs import (
    OXIGRAPH,
    ROOT,
    VIRTUOSO_PASSWORD,
    Contestant,
    MemorySampler,
    Processes,
    start_kgraph,
    start_oxigraph,
    start_rdflib,
    start_virtuoso,
    virtuoso_load,
)

LABELS = {"a": "kgraph embedded", "b": "Oxigraph server", "c": "Flask + rdflib (waitress)",
          "d": "kgraph over Oxigraph server", "e": "kgraph over Virtuoso 7"}
CLASSES = ("cheap", "light", "engine-bound", "repeated")
ACCEPT = {"Accept": "application/sparql-results+json"}
#: Queries slower than this in the engine are left out of the load mix (reported, not timed).
TOO_HEAVY_MS = 3000.0
MB = 1 << 20
PROBE = "ASK { ?s ?p ?o }"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the machine ---------------------------------------------------------------------------


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout + out.stderr).strip().splitlines()
    return next((line.strip() for line in text if "ersion" in line or "wrk" in line
                 or "oxigraph" in line), text[0] if text else "?")


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, OS and the versions of everything measured."""
    import importlib.metadata as md

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"') + f" ({platform.release()})"
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name, "python": platform.python_version(),
        "pyoxigraph": md.version("pyoxigraph"), "rdflib": md.version("rdflib"),
        "oxigraph": _version([OXIGRAPH, "--version"]),
        "virtuoso": _version(["virtuoso-t", "-?"]), "wrk": _version(["wrk", "-v"]),
        "kgraph_commit": commit, "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "jemalloc": next((p for p in _jemalloc_paths() if os.path.exists(p)), "not installed"),
    }


def _jemalloc_paths() -> tuple[str, ...]:
    from kgraph.store.pool import JEMALLOC

    return JEMALLOC


def ensure_jemalloc() -> None:
    """kgraph's query processes preload jemalloc when it is installed (Debian's
    ``libjemalloc2``; see docs/store.md): install it when missing, as a deployment would."""
    from kgraph.store.pool import JEMALLOC

    if any(os.path.exists(p) for p in JEMALLOC):
        return
    log("jemalloc missing: apt-get install -y libjemalloc2")
    subprocess.run(["apt-get", "install", "-y", "libjemalloc2"], check=False, capture_output=True)
    if not any(os.path.exists(p) for p in JEMALLOC):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "libjemalloc2"], check=False,
                       capture_output=True)


def ensure_wrk() -> None:
    """wrk is Debian's package; install it when missing (the machine may be fresh)."""
    if shutil.which("wrk"):
        return
    log("wrk missing: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


# --- load generation -----------------------------------------------------------------------


def run_wrk(c: Contestant, templates: Path, terms: Path, connections: int, duration: float,
            seed: int) -> dict[str, Any]:
    """One wrk run; its done() callback prints a JSON line (latencies in microseconds)."""
    threads = max(1, min(connections, 2))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "--timeout", "30s", "-s", str(ROOT / "bench" / "wrk.lua"), c.base, "--",
           str(templates), str(terms), c.path, str(seed)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-400:]} {out.stderr[-400:]}")
    r = json.loads(line)
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"connections": connections, "requests": r["requests"],
            "rps": round(r["requests"] / secs, 2) if secs else 0.0,
            # answers with a 2xx/3xx status per second: what the ratios compare
            "ok_rps": round((r["requests"] - r["status"]) / secs, 2) if secs else 0.0,
            "p50_ms": round(r["p50_us"] / 1000, 3), "p99_ms": round(r["p99_us"] / 1000, 3),
            "max_ms": round(r["max_us"] / 1000, 3), "errors": errors,
            "non2xx": r["status"], "timeouts": r["timeout"]}


def error_kinds(log_text: str) -> dict[str, int]:
    """How often each exception type failed a query in the rdflib reference (from its log)."""
    kinds: dict[str, int] = {}
    for line in log_text.splitlines():
        if line.startswith("query failed: "):
            kind = line[len("query failed: "):].split(":", 1)[0].strip()
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def settle(c: Contestant, limit: float = 120.0) -> bool:
    """Wait until the server answers a trivial query within 2 s: slow servers still work on
    requests wrk has stopped waiting for, and that work must not count for the next run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if requests.get(c.url(PROBE), headers=ACCEPT, timeout=2, auth=c.auth).ok:  # type: ignore[arg-type]
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def answer_size(c: Contestant, query: str, timeout: float = 120) -> tuple[int, str]:
    """(rows or 0/1 for ASK, error) of one query, to check contestants agree."""
    try:
        r = requests.get(c.url(query), headers=ACCEPT, timeout=timeout, auth=c.auth)  # type: ignore[arg-type]
        if r.status_code != 200:
            return -1, f"HTTP {r.status_code}: {r.text[:120]}"
        doc = r.json()
    except (requests.RequestException, ValueError) as exc:
        return -1, type(exc).__name__
    if "boolean" in doc:
        return int(bool(doc["boolean"])), ""
    return len(doc["results"]["bindings"]), ""


# --- streaming -----------------------------------------------------------------------------


def stream_check(c: Contestant, limit: int, folder: Path) -> dict[str, Any]:
    """Time to first byte, total time, rows and server RSS while a large SELECT streams.

    curl (a C client) reads the answer, so the times are the server's, not a Python loop's.
    """
    query = f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o }} LIMIT {limit}"
    before = c.rss()
    sampler = MemorySampler(c.rss, 0.05)
    body = folder / f"stream-{c.key}.tsv"
    try:
        out = subprocess.run(["curl", "-sS", "-o", str(body), "-H",
                              "Accept: text/tab-separated-values", "-w",
                              "%{http_code} %{time_starttransfer} %{time_total} %{size_download}",
                              c.url(query)], capture_output=True, text=True, timeout=600)
    finally:
        peak = sampler.stop()
    status, ttfb, total, size = out.stdout.split()
    with body.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    body.unlink()
    return {"status": int(status), "rows": max(0, lines - 1), "bytes": int(size),
            "ttfb_s": round(float(ttfb), 3), "total_s": round(float(total), 3),
            "rss_before_mb": round(before / MB), "rss_peak_mb": round(peak / MB),
            "rss_growth_mb": round(max(0, peak - before) / MB)}


# --- reasoning -----------------------------------------------------------------------------


def engine_times_main(argv: list[str]) -> int:
    """``python -m bench engine-times STORE POOLS START HEAVY_MS``: one JSON line per query,
    from the START-th on, each printed as soon as it is timed (the parent enforces a limit)."""
    store, pools_dir, start, heavy = Path(argv[0]), Path(argv[1]), int(argv[2]), float(argv[3])
    queries = workload.all_queries()[start:]
    pools = workload.read_pools(pools_dir)
    for q in queries:
        row = workload.engine_times(store, [q], pools, heavy_ms=heavy)[q.name]
        print(json.dumps({"name": q.name, **row}), flush=True)
    return 0


def reason_main(argv: list[str]) -> int:
    """``python -m bench reason DATA ENGINE``: load DATA into a memory store, materialize, JSON."""
    from kgraph.loader import load_files
    from kgraph.reasoning.materialize import materialize
    from kgraph.store import open_store

    data, engine = Path(argv[0]), argv[1]
    store = open_store(None)
    t0 = time.perf_counter()
    n = load_files(store, [data], progress=False)
    loaded = time.perf_counter() - t0
    report = materialize(store, engine=engine)
    print(json.dumps({"asserted": n, "load_s": round(loaded, 2), "engine": engine,
                      "seconds": round(report.seconds, 2), "inferred": report.inferred_triples}))
    return 0


def reasoning(procs: Processes, sizes: list[int], owlrl_max: int, seed: int, work: Path,
              timeout: float) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        folder = work / f"reason-{size}"
        if not (folder / "data.nq").exists():
            generate.write(size, seed, folder, progress=False)
        engines = ["rules"] + (["owlrl"] if size <= owlrl_max else [])
        for engine in engines:
            log(f"reasoning: {engine} on {size:,} triples")
            name = f"reason-{engine}-{size}"
            secs, peak, rc = procs.run(name, [sys.executable, "-m", "bench", "reason",
                                              str(folder / "data.nq"), engine], timeout)
            text = procs.log(name)
            line = next((ln for ln in reversed(text.splitlines()) if ln.startswith("{")), None)
            if rc != 0 or line is None:
                rows.append({"triples": size, "engine": engine,
                             "error": "timed out" if rc == -9 else
                             f"exit {rc}: {(text.strip().splitlines() or ['?'])[-1][:200]}"})
                continue
            rows.append({"triples": size, **json.loads(line), "peak_rss_mb": round(peak / MB)})
    return rows


# --- the run -------------------------------------------------------------------------------


class Run:
    """State of one benchmark run (so that every step can add to the results)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kgbench-"))
        self.procs = Processes(self.work / "logs")
        self.results: dict[str, Any] = {"params": {
            "triples": args.triples, "seed": args.seed, "duration_s": args.duration,
            "connections": args.connections, "contestants": args.contestants,
            "stream_rows": args.stream_rows, "rdflib_duration_s": args.rdflib_duration,
            "rdflib_connections": args.rdflib_connections}}

    # data and loads
    def data(self) -> Path:
        folder = self.work / f"data-{self.args.triples}-{self.args.seed}"
        if not (folder / "data.json").exists():
            log(f"generating {self.args.triples:,} triples (seed {self.args.seed})")
            generate.write(self.args.triples, self.args.seed, folder)
        info = json.loads((folder / "data.json").read_text())
        self.results["data"] = info
        log(f"data: {info['triples']:,} quads, {info['bytes'] / MB:.0f} MB")
        return folder

    def loads(self, data: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        n = self.results["data"]["triples"]
        for key, name, cmd in (
            ("kgraph", "load-kgraph", [sys.executable, "-m", "kgraph.cli", "load", "-q",
                                       "--store", str(self.work / "kgraph-store"),
                                       str(data / "data.nq")]),
            ("oxigraph", "load-oxigraph", [OXIGRAPH, "load", "--location",
                                           str(self.work / "oxigraph-store"), "--file",
                                           str(data / "data.nq")]),
        ):
            target = self.work / f"{key}-store"
            if target.exists():
                shutil.rmtree(target)
            log(f"load: {key}")
            secs, peak, rc = self.procs.run(name, cmd, self.args.load_timeout)
            if rc != 0:
                out[key] = {"error": f"exit {rc}: {self.procs.log(name)[-400:]}"}
                continue
            out[key] = {"seconds": round(secs, 2), "triples_per_s": round(n / secs),
                        "peak_rss_mb": round(peak / MB)}
            log(f"  {key}: {secs:.1f} s, {n / secs:,.0f} triples/s, peak {peak / MB:.0f} MB")
        if "kgraph" in out and "oxigraph" in out and "seconds" in out["kgraph"] \
                and "seconds" in out["oxigraph"]:
            out["kgraph_over_oxigraph"] = round(out["kgraph"]["triples_per_s"]
                                                / out["oxigraph"]["triples_per_s"], 3)
        self.results["load"] = out
        return out

    # contestants
    def start(self, key: str, data: Path) -> Contestant:
        a = self.args
        if key == "a":
            return start_kgraph(self.procs, "a", LABELS["a"], str(self.work / "kgraph-store"),
                                [], timeout=a.start_timeout)
        if key == "b":
            c = start_oxigraph(self.procs, "b", self.work / "oxigraph-store")
            return c
        if key == "c":
            c, secs = start_rdflib(self.procs, data / "data.nq", a.start_timeout * 4)
            self.results.setdefault("load", {})["rdflib"] = {
                "seconds": round(secs, 2),
                "triples_per_s": round(self.results["data"]["triples"] / secs),
                "peak_rss_mb": round(c.rss() / MB), "note": "parse at start-up, in memory"}
            return c
        if key == "d":
            self._need_remote_flags()
            copy = self.work / "oxigraph-store-rw"
            if copy.exists():
                shutil.rmtree(copy)
            shutil.copytree(self.work / "oxigraph-store", copy)
            engine = start_oxigraph(self.procs, "d", copy, read_only=False, union=False)
            b = engine.base
            c = start_kgraph(self.procs, "d", LABELS["d"], b + "/query",
                             ["--update-endpoint", b + "/update", "--graph-store", b + "/store"],
                             timeout=a.start_timeout)
            c.procs += engine.procs
            return c
        if key == "e":
            self._need_remote_flags()
            v = start_virtuoso(self.procs, self.work / "virtuoso", data,
                               self.results["data"]["triples"])
            log("  virtuoso bulk load")
            sampler = MemorySampler(v.proc.pid)
            secs = virtuoso_load(v, data / "data.nq")
            peak = sampler.stop()
            n = self.results["data"]["triples"]
            self.results.setdefault("load", {})["virtuoso"] = {
                "seconds": round(secs, 2), "triples_per_s": round(n / secs),
                "peak_rss_mb": round(peak / MB), "note": "ld_dir + rdf_loader_run + checkpoint"}
            log(f"  virtuoso: {secs:.1f} s, {n / secs:,.0f} triples/s")
            env = {"KGRAPH_STORE_AUTH": "digest", "KGRAPH_STORE_USER": "dba",
                   "KGRAPH_STORE_PASSWORD": VIRTUOSO_PASSWORD}
            c = start_kgraph(self.procs, "e", LABELS["e"], v.base + "/sparql",
                             ["--update-endpoint", v.base + "/sparql-auth",
                              "--graph-store", v.base + "/sparql-graph-crud-auth"], env,
                             timeout=a.start_timeout)
            c.procs.append(v.proc)
            c.notes.append(v.base)  # Virtuoso itself, measured directly too (a reference)
            return c
        raise ValueError(f"unknown contestant {key!r} (a-e)")

    @staticmethod
    def _need_remote_flags() -> None:
        help_text = subprocess.run([sys.executable, str(ROOT / "server.py"), "--help"],
                                   capture_output=True, text=True, timeout=60).stdout
        if "--update-endpoint" not in help_text:
            raise RuntimeError("server.py has no --update-endpoint (remote engines not built)")

    def classify(self, queries: list[workload.Query], pools_dir: Path
                 ) -> dict[str, list[workload.Query]]:
        """Engine time and class of every query, each timed in a child process.

        pyoxigraph cannot stop a query, so the timing runs in a process of its own that this
        one kills when a query takes longer than ``--query-limit`` seconds (that query is then
        "too heavy" and left out of the mix); the next queries go on in a new process.
        """
        log("timing every query in the embedded engine (median of 7, JSON written)")
        times: dict[str, dict[str, Any]] = {}
        names = [q.name for q in queries]
        start = 0
        while start < len(names):
            name = f"engine-times-{start}"
            proc = self.procs.start(name, [sys.executable, "-m", "bench", "engine-times",
                                           str(self.work / "oxigraph-store"), str(pools_dir),
                                           str(start), str(TOO_HEAVY_MS)],
                                    {"PYTHONUNBUFFERED": "1"})
            done = 0
            deadline = time.monotonic() + self.args.query_limit
            while proc.poll() is None and time.monotonic() < deadline:
                text = (self.procs.logs / f"{name}.log").read_text(errors="replace")
                got = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
                if len(got) > done:
                    done = len(got)
                    deadline = time.monotonic() + self.args.query_limit
                time.sleep(0.1)
            killed = proc.poll() is None  # still on one query after --query-limit seconds
            self.procs.stop(proc)
            text = (self.procs.logs / f"{name}.log").read_text(errors="replace")
            got = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
            for row in got:
                times[row.pop("name")] = row
            start += len(got)
            if start >= len(names):
                break
            if not killed:
                raise RuntimeError(f"timing {names[start]} failed: {text[-500:]}")
            times[names[start]] = {"median_ms": None, "max_ms": None,
                                   "class": f"too heavy (over {self.args.query_limit:g} s in "
                                            "the engine): not timed over HTTP"}
            log(f"  {names[start]:40s} over {self.args.query_limit:g} s: left out")
            start += 1
        self.results["engine_ms"] = {n: times[n] for n in names if n in times}
        classes: dict[str, list[workload.Query]] = {k: [] for k in CLASSES}
        for q in queries:
            t = times[q.name]
            if t["median_ms"] is None:
                continue
            if t["median_ms"] > TOO_HEAVY_MS:
                t["class"] += " (too heavy for the mix: not timed over HTTP)"
                continue
            classes[t["class"]].append(q)
            log(f"  {q.name:40s} {t['median_ms']:9.2f} ms  {t['class']}")
        return {k: v for k, v in classes.items() if v}

    def serve(self, key: str, data: Path, classes: dict[str, list[workload.Query]],
              checks: list[tuple[str, str, str]], reference: dict[str, int]) -> dict[str, Any]:
        """Start contestant ``key``, check its answers, wrk every class, stop it.

        The naive Flask + rdflib reference (c) is slow enough that requests wrk stopped
        waiting for keep it busy long after a run: it runs the engine-bound class only (what
        the target compares) at the largest connection count unless ``--rdflib-classes`` and
        ``--rdflib-connections`` say otherwise, it is restarted (the data parsed again) when
        it does not settle between runs, and its answers are checked on the three simplest queries only.
        """
        a = self.args
        log(f"contestant {key}: {LABELS[key]}")
        t0 = time.perf_counter()
        try:
            c = self.start(key, data)
        except Exception as exc:  # noqa: BLE001 - a contestant that cannot run is reported
            log(f"  not run: {exc}")
            self.procs.stop_all()
            return {"label": LABELS[key], "not_run": str(exc)[:500]}
        out: dict[str, Any] = {"label": LABELS[key], "start_s": round(time.perf_counter() - t0, 1),
                               "classes": {}}
        current = [c]
        sampler = MemorySampler(lambda: current[0].rss())
        naive = key == "c"
        conns = a.rdflib_connections if naive else a.connections
        try:
            simple = {q.name for q in workload.CHEAP}  # index lookups even for rdflib
            mine = [(n, q) for n, q, _cls in checks if not naive or n in simple]
            answers = {n: answer_size(c, q, 30 if naive else 120) for n, q in mine}
            out["answers"] = {n: v[0] for n, v in answers.items()}
            bad = {n: v for n, v in answers.items() if reference and v[0] != reference.get(n)}
            out["answers_agree"] = not bad
            if bad:
                out["answer_mismatch"] = {n: {"got": v[0], "error": v[1],
                                              "oxigraph": reference.get(n)}
                                          for n, v in bad.items()}
                log(f"  answers differ from Oxigraph server's: {out['answer_mismatch']}")
            folder = self.work / "wrk"
            mix = [(k, v) for k, v in classes.items() if not naive or k in a.rdflib_classes]
            for i, (cls, qs) in enumerate(mix):
                templates = folder / f"{cls}.tsv"
                workload.write_templates(qs, templates)
                if not naive:  # a short warm-up (caches, connection pools)
                    try:
                        run_wrk(c, templates, folder / "terms", 1, 1, a.seed)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        log(f"  warm-up failed: {exc}")
                    settle(c)
                runs = []
                for j, n in enumerate(conns):
                    try:
                        dur = a.rdflib_duration if naive else a.duration
                        r = run_wrk(c, templates, folder / "terms", n, dur, a.seed + n)
                        r["duration_s"] = dur
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        log(f"  {cls} c={n}: wrk failed: {exc}")
                        continue
                    runs.append(r)
                    log(f"  {cls:12s} c={n}: {r['ok_rps']:9.1f} answers/s  p50 {r['p50_ms']:8.2f} "
                        f"ms  p99 {r['p99_ms']:8.2f} ms  errors {r['errors']}")
                    last = i == len(mix) - 1 and j == len(conns) - 1
                    if not settle(c, 20 if naive else 120) and naive and not last:
                        log("  still busy with abandoned requests: restarting it")
                        for p in c.procs:
                            self.procs.stop(p)
                        c = self.start(key, data)
                        current[0] = c
                out["classes"][cls] = runs
                if naive:
                    out["error_kinds"] = error_kinds(self.procs.log(f"{c.key}-rdflib", 0))
                if key == "e" and c.notes:
                    # Virtuoso's own endpoint, same mix, largest connection count: separates
                    # the engine's speed from kgraph's cost in front of it
                    direct = Contestant("e0", "Virtuoso 7 direct", c.notes[0], "/sparql?query=")
                    n = max(conns)
                    try:
                        r = run_wrk(direct, templates, folder / "terms", n, a.duration, a.seed)
                        out.setdefault("engine_direct", {})[cls] = [r]
                        log(f"  {cls:12s} c={n}: {r['ok_rps']:9.1f} answers/s  (Virtuoso direct)")
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        log(f"  Virtuoso direct: wrk failed: {exc}")
                    settle(c)
            if key in ("a", "b") and a.stream:
                log("  streaming a large SELECT")
                out["stream"] = stream_check(c, a.stream_rows, self.work)
                log(f"  stream: {out['stream']}")
        finally:
            out["peak_rss_mb"] = round(sampler.stop() / MB)
            for p in current[0].procs:
                self.procs.stop(p)
        return out

    def go(self) -> dict[str, Any]:
        a = self.args
        t_start = time.perf_counter()
        ensure_jemalloc()
        self.results["machine"] = machine()
        ensure_wrk()
        data = self.data()
        self.loads(data)
        if a.load_only:
            self.results["ratios"], self.results["contestants"] = {}, {}
            self.results["targets"] = [t for t in targets(self.results) if "load" in t["target"]]
            self.results["elapsed_s"] = round(time.perf_counter() - t_start, 1)
            return self.results
        pools = workload.read_pools(data / "pools")
        workload.write_pools(pools, self.work / "wrk" / "terms")
        queries = workload.all_queries()
        classes = self.classify(queries, data / "pools")
        self.results["classes"] = {k: [q.name for q in v] for k, v in classes.items()}
        # answers every contestant must agree on: one fixed parameter per query
        checks = [(q.name, q.render(pools[q.pool][0] if q.pool else None), cls)
                  for cls, qs in classes.items() for q in qs]
        order = ["b"] + [k for k in a.contestants if k != "b"]
        reference: dict[str, int] = {}
        contestants: dict[str, Any] = {}
        for key in order:
            if key not in a.contestants and key != "b":
                continue
            if key == "b":
                # the reference's answers first (Oxigraph server is always measured)
                contestants[key] = self.serve(key, data, classes, checks, {})
                reference = dict(contestants[key].get("answers", {}))
            else:
                contestants[key] = self.serve(key, data, classes, checks, reference)
        self.results["contestants"] = contestants
        if a.reasoning_sizes:
            self.results["reasoning"] = reasoning(self.procs, a.reasoning_sizes, a.owlrl_max,
                                                  a.seed, self.work, a.reason_timeout)
        self.results["ratios"] = ratios(self.results)
        self.results["targets"] = targets(self.results)
        self.results["elapsed_s"] = round(time.perf_counter() - t_start, 1)
        return self.results


# --- ratios and targets --------------------------------------------------------------------


def ratios(res: dict[str, Any]) -> dict[str, Any]:
    """Throughput and p99 of every contestant over Oxigraph server's, per class and conns."""
    ref = res["contestants"].get("b", {}).get("classes", {})
    out: dict[str, Any] = {}
    measured = [(k, c.get("classes")) for k, c in res["contestants"].items() if k != "b"]
    if "engine_direct" in res["contestants"].get("e", {}):
        measured.append(("e0", res["contestants"]["e"]["engine_direct"]))
    for key, by_cls in measured:
        if not by_cls:
            continue
        for cls, runs in by_cls.items():
            for r in runs:
                base = next((x for x in ref.get(cls, []) if x["connections"] == r["connections"]),
                            None)
                if not base:
                    continue
                out.setdefault(key, {}).setdefault(cls, {})[str(r["connections"])] = {
                    "throughput": round(r["ok_rps"] / base["ok_rps"], 3) if base["ok_rps"]
                    else None,
                    "p99": round(r["p99_ms"] / base["p99_ms"], 3) if base["p99_ms"] else None,
                }
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, checked at the largest connection count of the run."""
    conns = str(max(res["params"]["connections"]))
    rat = res["ratios"].get("a", {})
    cons = res["contestants"]
    rows: list[dict[str, Any]] = []

    def ratio(cls: str, what: str) -> float | None:
        return rat.get(cls, {}).get(conns, {}).get(what)

    def add(name: str, want: str, value: Any, ok: bool | None) -> None:
        rows.append({"target": name, "wanted": want, "measured": value, "verdict": _verdict(ok)})

    for cls, want in (("cheap", 0.25), ("engine-bound", 0.9), ("repeated", 1.0)):
        v = ratio(cls, "throughput")
        add(f"{cls} throughput / Oxigraph ({conns} conns)", f">= {want}x", v,
            None if v is None else v >= want)
    v = ratio("engine-bound", "p99")
    add(f"engine-bound p99 / Oxigraph ({conns} conns)", "<= 1.5x", v, None if v is None else v <= 1.5)
    load = res.get("load", {})
    v = load.get("kgraph_over_oxigraph")
    add("kgraph load speed / oxigraph load", ">= 0.5x", v, None if v is None else v >= 0.5)
    peak = load.get("kgraph", {}).get("peak_rss_mb")
    n = res["data"]["triples"]
    at_scale = n >= 10_000_000
    add(f"kgraph load peak memory ({n:,} triples)", "< 2048 MB at 10^7", peak,
        (peak < 2048) if (peak is not None and at_scale) else None)
    for c_run in cons.get("c", {}).get("classes", {}).get("engine-bound", []):
        n = str(c_run["connections"])
        a_eb = _rps(cons.get("a"), "engine-bound", n)
        name = f"kgraph / Flask+rdflib on engine-bound ({n} conns)"
        secs = c_run.get("duration_s", res["params"]["duration_s"])
        if a_eb and c_run["ok_rps"] > 0:
            v = round(a_eb / c_run["ok_rps"], 2)
            add(name, ">= 15x", v, v >= 15)
        elif a_eb:
            # no request answered in the run: its throughput is below connections / duration
            bound = a_eb * secs / int(n)
            what = (f"{c_run['errors']} errors, no answer" if c_run["errors"]
                    else "no answer")
            add(name, ">= 15x", f"> {bound:.1f} (rdflib: {what} in {secs:g} s)",
                True if bound >= 15 else None)
        else:
            add(name, ">= 15x", None, None)
    errs = sum(r["errors"] for runs in cons.get("a", {}).get("classes", {}).values() for r in runs)
    rdflib_errs = sum(r["errors"] for runs in cons.get("c", {}).get("classes", {}).values()
                      for r in runs)
    add("kgraph errors under concurrency (all runs)", "0", errs,
        errs == 0 if "classes" in cons.get("a", {}) else None)
    if "classes" in cons.get("c", {}):
        rows.append({"target": "Flask+rdflib errors under concurrency (all runs; reference)",
                     "wanted": "(expected > 0)", "measured": rdflib_errs, "verdict": "info"})
    s = cons.get("a", {}).get("stream")
    if s:
        want = min(res["params"].get("stream_rows", s["rows"]), res["data"]["triples"])
        ok = s["status"] == 200 and s["ttfb_s"] < s["total_s"] / 2
        add(f"large SELECT streams ({want:,} rows asked)", "first byte before the end",
            f"first byte {s['ttfb_s']} s of {s['total_s']} s", ok)
        add("large SELECT answered in full", f"{want:,} rows", f"{s['rows']:,} rows",
            s["status"] == 200 and s["rows"] == want)
        add(f"server memory while streaming {s['rows']:,} rows", "flat (< 256 MB growth)",
            f"+{s['rss_growth_mb']} MB", s["rss_growth_mb"] < 256)
    return rows


def _rps(c: dict[str, Any] | None, cls: str, conns: str) -> float | None:
    if not c or "classes" not in c:
        return None
    return next((r["ok_rps"] for r in c["classes"].get(cls, []) if str(r["connections"]) == conns),
                None)


# --- entry point ---------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--triples", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--connections", default="1,4,8")
    ap.add_argument("--contestants", default="a,b,c,d,e")
    ap.add_argument("--rdflib-classes", default="engine-bound",
                    help="query classes run against the Flask + rdflib reference "
                         "(default: engine-bound; e.g. cheap,engine-bound,repeated)")
    ap.add_argument("--rdflib-connections", default="",
                    help="connection counts for the Flask + rdflib reference (default: 1 and the "
                         "largest of --connections)")
    ap.add_argument("--rdflib-duration", type=float, default=30.0,
                    help="seconds per wrk run against the Flask + rdflib reference (it answers "
                         "an engine-bound query in seconds, so 10 s runs may see none)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--work", help="work folder (default: a new temp dir, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--load-only", action="store_true",
                    help="only generate and load (e.g. --load-only --triples 10000000)")
    ap.add_argument("--reasoning-sizes", default="100000,1000000",
                    help="comma-separated sizes for the reasoning times ('' for none)")
    ap.add_argument("--owlrl-max", type=int, default=0,
                    help="also time owlrl (the reference reasoner) at sizes up to this "
                         "(e.g. 100000: about 1-2 min at 10^5 on 2 cores; default: not run)")
    ap.add_argument("--no-stream", dest="stream", action="store_false")
    ap.add_argument("--stream-rows", type=int, default=1_000_000)
    ap.add_argument("--load-timeout", type=float, default=1800)
    ap.add_argument("--query-limit", type=float, default=20,
                    help="seconds one query may take in the engine before it is left out")
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument("--reason-timeout", type=float, default=900)
    args = ap.parse_args(argv)
    args.connections = [int(x) for x in str(args.connections).split(",") if x]
    args.rdflib_connections = ([int(x) for x in str(args.rdflib_connections).split(",") if x]
                               or sorted({1, max(args.connections)}))
    args.rdflib_classes = [x.strip() for x in str(args.rdflib_classes).split(",") if x.strip()]
    args.contestants = [x.strip() for x in str(args.contestants).split(",") if x.strip()]
    args.reasoning_sizes = [int(x) for x in str(args.reasoning_sizes).split(",") if x]
    if bad := [k for k in args.contestants if k not in LABELS]:
        ap.error(f"unknown contestants {bad}; choose from a,b,c,d,e")
    return args


def main(argv: list[str]) -> int:
    from bench.report import write_outputs

    args = parse_args(argv)
    run = Run(args)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    log(f"work folder {run.work}")
    try:
        results = run.go()
        # a load-only run (e.g. at 10^7) does not replace the latest full results
        stem = f"load-{args.triples}" if args.load_only else "latest"
        paths = write_outputs(results, args.out, stem)
        log("wrote " + ", ".join(str(p) for p in paths))
        return 0
    finally:
        run.procs.stop_all()
        if not args.keep and not args.work:
            shutil.rmtree(run.work, ignore_errors=True)
