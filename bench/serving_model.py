"""Quick measurement of kgraph's serving model against Oxigraph server, with wrk.

``python bench/serving_model.py [--triples 100000] [--seconds 3] [--rounds 3] [--connections 8]``

Generates ``--triples`` synthetic triples (10 per subject), loads one copy for
``oxigraph serve-read-only`` and one for ``server.py``, then runs ``wrk`` with a
random subject per request for two cheap queries (a one-subject lookup and an
ASK on a subject) against both, and prints the median requests/s of alternating rounds and the ratio.
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
  local s = "<EXs" .. math.random(0, subjects - 1) .. ">"
  local q = string.gsub(TEMPLATE, "SUBJECT", s)
  return wrk.format("GET", "PATH?query=" .. encode(q), {["Accept"] = "application/sparql-results+json"})
end
"""

QUERIES = {
    "lookup": "SELECT ?p ?o WHERE { SUBJECT ?p ?o }",
    "ask": "ASK { SUBJECT ?p ?o }",
}


def generate(path: Path, triples: int) -> int:
    subjects = max(1, triples // 10)
    with path.open("w", encoding="utf-8") as out:
        for s in range(subjects):
            for p in range(10):
                out.write(f'<{EX}s{s}> <{EX}p{p}> "value {s} {p}" .\n')
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
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kgraph-serving-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data = folder / "data.nt"
        subjects = generate(data, args.triples)
        for name in ("ox", "kg"):
            subprocess.run([str(VENV_BIN / "oxigraph"), "load", "--location", str(folder / name),
                            "--file", str(data)], check=True, capture_output=True)
        ox_port, kg_port = free_port(), free_port()
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "oxigraph"), "serve-read-only", "--location", str(folder / "ox"),
             "--bind", f"127.0.0.1:{ox_port}"], stderr=subprocess.DEVNULL))
        kg_cmd = [sys.executable, str(ROOT / "server.py"), "--port", str(kg_port), "--store",
                  str(folder / "kg"), "--no-bootstrap", "--threads", str(args.threads)]
        if args.workers:
            kg_cmd += ["--workers", str(args.workers)]
        procs.append(subprocess.Popen(kg_cmd, stdout=subprocess.DEVNULL,
                                      stderr=open(folder / "kg.log", "wb")))  # noqa: SIM115
        wait_http(f"http://127.0.0.1:{ox_port}/query?query=ASK%7B%7D")
        wait_http(f"http://127.0.0.1:{kg_port}/health")
        results: dict[str, dict[str, float]] = {}
        for name, template in QUERIES.items():
            # alternating rounds, medians: the machine's other load drifts during a run
            oxs, kgs = [], []
            for _ in range(args.rounds):
                oxs.append(wrk(f"http://127.0.0.1:{ox_port}", "/query", template, subjects,
                               args.seconds, args.connections, folder))
                kgs.append(wrk(f"http://127.0.0.1:{kg_port}", "/sparql", template, subjects,
                               args.seconds, args.connections, folder))
            ox, kg = statistics.median(oxs), statistics.median(kgs)
            results[name] = {"oxigraph_rps": ox, "kgraph_rps": kg, "ratio": round(kg / ox, 3)}
            print(f"{name:8} oxigraph {ox:9.0f} req/s   kgraph {kg:9.0f} req/s   "
                  f"ratio {kg / ox:.2f}x", flush=True)
        print(json.dumps({"triples": args.triples, "connections": args.connections,
                          "cpus": os.cpu_count(), "results": results}))
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
