"""Quick measurement of kgraph's serving model against Oxigraph server, with wrk.

``python bench/serving_model.py [--triples 100000] [--seconds 3] [--rounds 3] [--connections 8]
[--also OTHER_CHECKOUT]``

Generates ``--triples`` synthetic triples (10 per subject, one of them a link to the
next subject), loads one copy for ``oxigraph serve-read-only`` and one for
``server.py``, then runs ``wrk`` against both for cheap queries: a one-subject lookup,
an ASK on a subject and a small join (a random subject per request, so nearly every
request is a cache miss), and one repeated identical query (an answer-cache hit). It
prints the median requests/s of alternating rounds and the ratio. ``--also DIR`` runs
a second kgraph (another checkout's ``server.py``, e.g. an older commit) in the same
rounds, over the same data, to compare two versions under the same machine load.
Loopback only; each round is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
EX = "http://example.org/"

LUA = r"""
math.randomseed(42)
local subjects = SUBJECTS
local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
request = function()
  local s = "<EXs" .. math.random(0, subjects - 1) .. ">"  -- unused by a fixed query
  local q = string.gsub(TEMPLATE, "SUBJECT", s)
  return wrk.format("GET", "PATH?query=" .. encode(q), {["Accept"] = "application/sparql-results+json"})
end
"""

QUERIES = {
    "lookup": "SELECT ?p ?o WHERE { SUBJECT ?p ?o }",
    "ask": "ASK { SUBJECT ?p ?o }",
    "join": f"SELECT ?o WHERE {{ SUBJECT <{EX}p9> ?next . ?next <{EX}p0> ?o }}",
    "repeated": f"SELECT ?p ?o WHERE {{ <{EX}s1> ?p ?o }}",
}


def generate(path: Path, triples: int) -> int:
    subjects = max(1, triples // 10)
    with path.open("w", encoding="utf-8") as out:
        for s in range(subjects):
            for p in range(9):
                out.write(f'<{EX}s{s}> <{EX}p{p}> "value {s} {p}" .\n')
            out.write(f'<{EX}s{s}> <{EX}p9> <{EX}s{(s + 1) % subjects}> .\n')
    return subjects


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:  # not up yet (or slow to answer on a busy machine)
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, path: str, template: str, subjects: int, seconds: int, conns: int,
        folder: Path) -> float:
    script = folder / "q.lua"
    lua = LUA.replace("SUBJECTS", str(subjects)).replace("EX", EX).replace("PATH", path)
    script.write_text(lua.replace("TEMPLATE", json.dumps(template)))
    out = subprocess.run(["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "-s",
                          str(script), url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--also", type=Path, help="another kgraph checkout to run alongside")
    parser.add_argument("--only", nargs="*", choices=sorted(QUERIES), help="queries to run")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kgraph-serving-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data = folder / "data.nt"
        subjects = generate(data, args.triples)
        kgs_roots = {"kgraph": ROOT, **({"also": args.also.resolve()} if args.also else {})}
        for name in ("ox", *kgs_roots):
            subprocess.run([str(VENV_BIN / "oxigraph"), "load", "--location", str(folder / name),
                            "--file", str(data)], check=True, capture_output=True)
        ox_port = free_port()
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "oxigraph"), "serve-read-only", "--location", str(folder / "ox"),
             "--bind", f"127.0.0.1:{ox_port}"], stderr=subprocess.DEVNULL))
        ports = {"oxigraph": (ox_port, "/query")}
        for name, root in kgs_roots.items():
            port = free_port()
            kg_cmd = [sys.executable, str(root / "server.py"), "--port", str(port), "--store",
                      str(folder / name), "--no-bootstrap", "--threads", str(args.threads)]
            if args.workers:
                kg_cmd += ["--workers", str(args.workers)]
            procs.append(subprocess.Popen(kg_cmd, stdout=subprocess.DEVNULL,
                                          stderr=open(folder / f"{name}.log", "wb")))  # noqa: SIM115
            ports[name] = (port, "/sparql")
        wait_http(f"http://127.0.0.1:{ox_port}/query?query=ASK%7B%7D")
        for name in kgs_roots:
            wait_http(f"http://127.0.0.1:{ports[name][0]}/health")
        results: dict[str, dict[str, float]] = {}
        for qname, template in QUERIES.items():
            if args.only and qname not in args.only:
                continue
            # alternating rounds, medians: the machine's other load drifts during a run
            rps: dict[str, list[float]] = {name: [] for name in ports}
            for _ in range(args.rounds):
                for name, (port, path) in ports.items():
                    rps[name].append(wrk(f"http://127.0.0.1:{port}", path, template, subjects,
                                         args.seconds, args.connections, folder))
            med = {name: statistics.median(values) for name, values in rps.items()}
            ox = med["oxigraph"]
            row: dict[str, float] = {"oxigraph_rps": ox}
            line = f"{qname:8} oxigraph {ox:8.0f} req/s"
            for name in kgs_roots:
                row[f"{name}_rps"] = med[name]
                row[f"{name}_ratio"] = round(med[name] / ox, 3)
                line += f"   {name} {med[name]:8.0f} req/s ({med[name] / ox:.2f}x)"
            results[qname] = row
            print(line, flush=True)
        print(json.dumps({"triples": args.triples, "connections": args.connections,
                          "cpus": os.cpu_count(), "load": os.getloadavg()[0],
                          "results": results}))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
