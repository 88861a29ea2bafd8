"""Alternating A/B rounds of kgraph embedded variants against Oxigraph server, with wrk.

``python -m bench.ab --work DIR [--variant NAME=ARGS]... [--classes cheap,engine-bound]
[--rounds 3] [--duration 5] [--connections 8]``

A quick check of one change of the serving model, under the machine's load as it is:
``DIR`` is a work folder prepared once by ``python -m bench run --load-only --keep --work
DIR`` (the same seeded data, the kgraph and Oxigraph stores). Every variant is a
``server.py`` over its own copy of the kgraph store, started with its extra arguments
(``NAME=--threads 2 --workers 2``; ``NAME=ENV:KGRAPH_X=1 --threads 2`` sets an
environment variable too). The cheap and the engine-bound queries of the benchmark's
workload (the same wrk script, a random parameter and a unique comment per request) are
run in rounds that alternate Oxigraph server and every variant, so that the machine's
drifting load hits all alike; it prints the median ratio to Oxigraph server per class.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

from bench import workload
from bench.procs import Contestant, Processes, start_kgraph, start_oxigraph
from bench.run import run_wrk, settle

#: The engine-bound class of the benchmark at 10^6 triples (bench/results/latest.md).
ENGINE_BOUND = ["in-office-on", "uncontested-obligations", "claims-by-agency",
                "attacks-in-year", "cq-allies"]


def classes() -> dict[str, list[workload.Query]]:
    by_name = {q.name: q for q in workload.all_queries()}
    return {"cheap": list(workload.CHEAP),
            "engine-bound": [by_name[n] for n in ENGINE_BOUND]}


def tree_cpu(c: Contestant) -> float:
    """CPU seconds (user + system) used so far by a contestant's process tree; children
    that ended are counted by their parent once reaped (executors live long)."""
    total = 0.0
    for root in c.procs:
        try:
            procs = [psutil.Process(root.pid), *psutil.Process(root.pid).children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=server.py arguments (repeatable); default: one, 'kgraph'")
    ap.add_argument("--classes", default="cheap,engine-bound")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    work: Path = a.work
    data = next(work.glob("data-*"))
    scratch = Path(tempfile.mkdtemp(prefix="kgraph-ab-", dir=work))
    procs = Processes(scratch / "logs")
    try:
        workload.write_pools(workload.read_pools(data / "pools"), scratch / "terms")
        wanted = [c.strip() for c in a.classes.split(",") if c.strip()]
        mix = {k: v for k, v in classes().items() if k in wanted}
        for cls, qs in mix.items():
            workload.write_templates(qs, scratch / f"{cls}.tsv")
        contestants = {"oxigraph": start_oxigraph(procs, "b", work / "oxigraph-store")}
        for spec in a.variant or ["kgraph="]:
            name, _, rest = spec.partition("=")
            env: dict[str, str] = {}
            extra: list[str] = []
            for word in rest.split():
                if word.startswith("ENV:"):
                    k, _, v = word[4:].partition("=")
                    env[k] = v
                else:
                    extra.append(word)
            store = scratch / f"store-{name}"
            shutil.copytree(work / "kgraph-store", store)
            contestants[name] = start_kgraph(procs, name, name, str(store), extra, env)
        rps: dict[str, dict[str, list[float]]] = {c: {n: [] for n in contestants} for c in mix}
        p99: dict[str, dict[str, list[float]]] = {c: {n: [] for n in contestants} for c in mix}
        cpu: dict[str, dict[str, list[float]]] = {c: {n: [] for n in contestants} for c in mix}
        for cls in mix:  # warm-up
            for c in contestants.values():
                run_wrk(c, scratch / f"{cls}.tsv", scratch / "terms", 2, 1, a.seed)
                settle(c)
        for rnd in range(a.rounds):
            for cls in mix:
                for name, c in contestants.items():
                    before = tree_cpu(c)
                    r = run_wrk(c, scratch / f"{cls}.tsv", scratch / "terms", a.connections,
                                a.duration, a.seed + rnd)
                    settle(c)  # the requests still in flight finish: one per connection
                    used = tree_cpu(c) - before
                    per = used * 1000 / max(1, r["requests"] + a.connections)
                    cpu[cls][name].append(per)
                    if r["errors"]:
                        print(f"  {name} {cls}: {r['errors']} errors", flush=True)
                    rps[cls][name].append(r["ok_rps"])
                    p99[cls][name].append(r["p99_ms"])
                    print(f"round {rnd} {cls:12s} {name:12s} {r['ok_rps']:9.1f}/s "
                          f"p99 {r['p99_ms']:8.1f} ms  server CPU {per:8.3f} ms/request", flush=True)
        out: dict[str, dict[str, float]] = {}
        for cls in mix:
            ox = rps[cls]["oxigraph"]
            for name in contestants:
                if name == "oxigraph":
                    continue
                ratios = [k / o for k, o in zip(rps[cls][name], ox, strict=True) if o]
                p99r = [k / o for k, o in zip(p99[cls][name], p99[cls]["oxigraph"], strict=True)
                        if o]
                cpur = statistics.median(cpu[cls]["oxigraph"]) / statistics.median(cpu[cls][name])
                out[f"{cls}/{name}"] = {"ratio_median": round(statistics.median(ratios), 3),
                                        "cpu_ratio": round(cpur, 3),
                                        "ratios": [round(x, 3) for x in ratios],
                                        "p99_ratio_median": round(statistics.median(p99r), 3)}
                print(f"{cls:12s} {name:12s} ratio {statistics.median(ratios):.3f} "
                      f"({', '.join(f'{x:.2f}' for x in ratios)})  p99 ratio "
                      f"{statistics.median(p99r):.2f}  CPU/request ratio (Oxigraph/kgraph) {cpur:.3f}",
                      flush=True)
        print(json.dumps(out))
    finally:
        procs.stop_all()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
