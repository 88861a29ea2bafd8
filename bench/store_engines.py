"""Store engines side by side: pyoxigraph (memory and on disk) against rdflib's memory store.

Same generated data, same queries, one run; the output is a table of times and
ratios to rdflib. ``python bench/store_engines.py [--triples N]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable

import rdflib
from pyoxigraph import Literal, NamedNode, Quad, Store

EX = "http://bench.kgraph.example/"

QUERIES = {
    "lookup": f"SELECT ?o WHERE {{ <{EX}s42> ?p ?o }}",
    "join": f"SELECT ?a ?c WHERE {{ ?a <{EX}knows> ?b . ?b <{EX}knows> ?c . ?c <{EX}age> 42 }}",
    "aggregate": f"SELECT ?age (COUNT(?s) AS ?n) WHERE {{ ?s <{EX}age> ?age }} GROUP BY ?age ORDER BY DESC(?n) LIMIT 5",
    "filter": f'SELECT ?s WHERE {{ ?s <{EX}name> ?n FILTER(STRSTARTS(?n, "name 99")) }}',
}


def generate(n_triples: int, seed: int = 7) -> list[tuple[str, str, object]]:
    rng = random.Random(seed)
    people = max(n_triples // 4, 10)
    out: list[tuple[str, str, object]] = []
    for i in range(people):
        out.append((f"{EX}s{i}", f"{EX}name", f"name {i}"))
        out.append((f"{EX}s{i}", f"{EX}age", rng.randrange(18, 90)))
        out.append((f"{EX}s{i}", f"{EX}knows", f"{EX}s{rng.randrange(people)}"))
        out.append((f"{EX}s{i}", f"{EX}knows", f"{EX}s{rng.randrange(people)}"))
    return out[:n_triples]


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--triples", type=int, default=100_000)
    args = ap.parse_args()
    data = generate(args.triples)

    def ox_quads() -> list[Quad]:
        return [Quad(NamedNode(s), NamedNode(p), NamedNode(o) if isinstance(o, str) and o.startswith("http")
                     else Literal(o) if isinstance(o, str) else Literal(str(o), datatype=NamedNode(
                         "http://www.w3.org/2001/XMLSchema#integer"))) for s, p, o in data]

    def rdflib_triples() -> list[tuple[object, object, object]]:
        return [(rdflib.URIRef(s), rdflib.URIRef(p), rdflib.URIRef(o) if isinstance(o, str) and o.startswith("http")
                 else rdflib.Literal(o)) for s, p, o in data]

    results: dict[str, dict[str, float]] = {}
    tmp = tempfile.TemporaryDirectory()

    engines: dict[str, Callable[[], object]] = {
        "rdflib-memory": lambda: rdflib.Graph(),
        "oxigraph-memory": lambda: Store(),
        "oxigraph-disk": lambda: Store(tempfile.mkdtemp(dir=tmp.name)),
    }
    for name, make in engines.items():
        row: dict[str, float] = {}
        if name.startswith("rdflib"):
            triples = rdflib_triples()
            graph = make()
            t = time.perf_counter()
            for tr in triples:
                graph.add(tr)  # type: ignore[attr-defined]
            row["load"] = time.perf_counter() - t
            for q, text in QUERIES.items():
                row[q] = timed(lambda text=text, g=graph: list(g.query(text)))  # type: ignore[attr-defined]
        else:
            quads = ox_quads()
            store = make()
            t = time.perf_counter()
            store.extend(quads)  # type: ignore[attr-defined]
            row["load"] = time.perf_counter() - t
            for q, text in QUERIES.items():
                row[q] = timed(lambda text=text, st=store: list(st.query(text)))  # type: ignore[attr-defined]
        results[name] = row

    ref = results["rdflib-memory"]
    cols = ["load", *QUERIES]
    print(f"{len(data)} triples; seconds (best of 3), ratio = rdflib time / engine time (higher is faster)")
    print(f"{'engine':18}" + "".join(f"{c:>20}" for c in cols))
    for name, row in results.items():
        cells = "".join(f"{row[c]:>10.4f} ({ref[c] / row[c]:>6.1f}x)" for c in cols)
        print(f"{name:18}{cells}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
