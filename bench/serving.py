"""Serving throughput on loopback: kgraph (waitress + pyoxigraph) against Oxigraph's own server.

A third contestant, ``bench/minimal_app.py`` (the smallest Flask + pyoxigraph endpoint on
the same waitress), separates the cost of the WSGI stack from kgraph's own request handling.
All servers hold the same small dataset; the same bounded number of trivial
SPARQL queries is sent to each by the same client (keep-alive connections in
several processes), and the report gives requests per second and the ratio
to Oxigraph server. ``python bench/serving.py [--requests N] [--clients C]``.
Traffic only ever goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUERY = "SELECT ?o WHERE { <http://example.org/s> ?p ?o }"
DATA = "<http://example.org/s> <http://example.org/p> \"o\" .\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, path: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not come up")


def _client(args: tuple[int, str, int]) -> int:
    port, path, n = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = 0
    for _ in range(n):
        conn.request("GET", path, headers={"Accept": "application/sparql-results+json"})
        resp = conn.getresponse()
        resp.read()
        ok += resp.status == 200
    conn.close()
    return ok


def hammer(port: int, path: str, requests: int, clients: int) -> float:
    per = requests // clients
    with mp.Pool(clients) as pool:
        t = time.perf_counter()
        ok = sum(pool.map(_client, [(port, path, per)] * clients))
        elapsed = time.perf_counter() - t
    if ok != per * clients:
        raise RuntimeError(f"{per * clients - ok} requests failed")
    return ok / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    procs: list[subprocess.Popen[bytes]] = []
    path = "/sparql?" + urllib.parse.urlencode({"query": QUERY})
    results: dict[str, float] = {}
    try:
        oxi = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
        data = tmp / "data.nt"
        data.write_text(DATA)
        subprocess.run([oxi, "load", "--location", str(tmp / "oxi"), "--file", str(data)], check=True,
                       capture_output=True)
        port = free_port()
        procs.append(subprocess.Popen([oxi, "serve", "--location", str(tmp / "oxi"), "--bind",
                                       f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_up(port, "/query?query=ASK%7B%7D")
        hammer(port, "/query?" + urllib.parse.urlencode({"query": QUERY}), 200, args.clients)
        results["oxigraph server"] = hammer(port, "/query?" + urllib.parse.urlencode({"query": QUERY}),
                                            args.requests, args.clients)

        port = free_port()
        subprocess.run([sys.executable, "-m", "kgraph.cli", "load", "-q", "--store", str(tmp / "kg"),
                        str(data)], check=True, cwd=ROOT)
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(port),
                                       "--store", str(tmp / "kg"), "--no-bootstrap"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_up(port, "/health")
        hammer(port, path, 200, args.clients)
        results["kgraph (waitress)"] = hammer(port, path, args.requests, args.clients)

        port = free_port()
        subprocess.run([sys.executable, "-m", "kgraph.cli", "load", "-q", "--store",
                        str(tmp / "minimal"), str(data)], check=True, cwd=ROOT)
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "minimal_app.py"),
                                       str(tmp / "minimal"), str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_up(port, "/health")
        hammer(port, path, 200, args.clients)
        results["flask+pyoxigraph minimal (waitress)"] = hammer(port, path, args.requests,
                                                                args.clients)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    ref = results["oxigraph server"]
    print(f"{args.requests} trivial SELECT queries, {args.clients} keep-alive client processes, loopback")
    for name, rps in results.items():
        print(f"{name:36} {rps:10.0f} req/s   {rps / ref:6.3f}x of oxigraph server")
    minimal = results["flask+pyoxigraph minimal (waitress)"]
    print(f"kgraph / minimal Flask+pyoxigraph: {results['kgraph (waitress)'] / minimal:.3f}x")


if __name__ == "__main__":
    main()
