"""Reasoning benchmark: kgraph's rule engine against owlrl (and reasonable) on the same data.

    python bench/reasoning.py                 # article graph + 1e5 synthetic triples
    python bench/reasoning.py --large         # also 1e6 synthetic triples (owlrl takes long)
    python bench/reasoning.py --sizes 20000   # other synthetic sizes
    python bench/reasoning.py --json out.json

For each dataset it times, in the same run and on the same quads:

- ``rules``: kgraph's engine with the full rule set (OWL 2 RL + treaty rules), i.e. what
  ``kgraph.reasoning.materialize`` does;
- ``rules-owlrl``: the engine with the OWL 2 RL rules only (the like-for-like comparison);
- ``owlrl``: owlrl's OWL 2 RL closure (``DeductiveClosure(OWLRL_Semantics)``);
- ``reasonable``: the Rust OWL 2 RL reasoner, on the article graph only (on the synthetic
  data its inverse-functional-property bug makes every treaty the same individual and the
  closure blows up; see docs/reasoning.md);
- ``hermit``: HermiT consistency + classification on the article graph.

Times are wall-clock seconds (best of ``--repeat`` runs for the article graph, one run for
synthetic data); ratios are owlrl / rules-owlrl. Reported numbers are in docs/reasoning.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pyoxigraph import NamedNode, Quad  # noqa: E402

from kgraph.namespaces import GRAPH_INFERRED, GRAPH_ONTOLOGY  # noqa: E402
from kgraph.reasoning.engine import RuleEngine  # noqa: E402
from kgraph.reasoning.materialize import (  # noqa: E402
    asserted_quads,
    closure_owlrl,
    closure_reasonable,
    scratch_store,
    turtle_quads,
)
from kgraph.reasoning.owl import check_with_hermit  # noqa: E402
from kgraph.reasoning.rules import load_rules  # noqa: E402
from kgraph.reasoning.synthetic import generate  # noqa: E402

INFERRED = NamedNode(GRAPH_INFERRED)


def article_quads() -> list[Quad]:
    """Ontology + the article's compiled facts + the Wikidata snapshot (as the server loads)."""
    from kgraph.bootstrap import ontology_files
    from kgraph.ingest import load_facts
    from kgraph.ingest.compile import compile_document
    from kgraph.loader import load_files
    from kgraph.store import open_store

    store = open_store(None)
    load_files(store, ontology_files(ROOT / "ontology"), GRAPH_ONTOLOGY, progress=False)
    for facts in sorted((ROOT / "data" / "facts").glob("*.yaml")):
        compiled = compile_document(load_facts(facts))
        store.replace_graph(compiled.graph, compiled.quads)
    if (ROOT / "data" / "wikidata").is_dir():
        from kgraph.linking.snapshot import load_snapshot

        load_snapshot(store)
    return list(asserted_quads(store))


def ontology_quads() -> list[Quad]:
    return turtle_quads((ROOT / "ontology" / "kgraph.ttl").read_bytes(), GRAPH_ONTOLOGY)


def time_it(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    best, out = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def engine_runner(quads: list[Quad], include: list[str] | None) -> Callable[[], int]:
    rules = load_rules(include=include) if include else load_rules()

    def run() -> int:
        scratch = scratch_store(quads)  # the copy is part of what materialize() pays
        return len(RuleEngine(rules).run(scratch, INFERRED).derivations)

    return run


def bench_dataset(name: str, quads: list[Quad], repeat: int, *, with_reasonable: bool,
                  with_hermit: bool) -> dict[str, object]:
    print(f"\n== {name}: {len(quads)} asserted quads", flush=True)
    row: dict[str, object] = {"dataset": name, "asserted": len(quads)}
    cases: list[tuple[str, Callable[[], int]]] = [
        ("rules", engine_runner(quads, None)),
        ("rules-owlrl", engine_runner(quads, ["owl-rl"])),
        ("owlrl", lambda: len(closure_owlrl(quads))),
    ]
    if with_reasonable:
        cases.append(("reasonable", lambda: len(closure_reasonable(quads))))
    if with_hermit:
        cases.append(("hermit", lambda: check_with_hermit(quads).triples_checked))
    for label, fn in cases:
        seconds, count = time_it(fn, repeat)
        row[label] = {"seconds": round(seconds, 3), "triples": count}
        print(f"  {label:12s} {seconds:9.3f} s   {count} triples", flush=True)
    rules_s = row["rules-owlrl"]["seconds"]  # type: ignore[index]
    owlrl_s = row["owlrl"]["seconds"]  # type: ignore[index]
    row["owlrl_over_rules"] = round(owlrl_s / rules_s, 2) if rules_s else None
    print(f"  owlrl / rules-owlrl = {row['owlrl_over_rules']}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000],
                    help="synthetic dataset sizes in triples (default: 100000)")
    ap.add_argument("--large", action="store_true", help="also run 1,000,000 triples (slow: owlrl)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine on the article graph")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = ap.parse_args(argv)

    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "datasets": [],
    }
    datasets = results["datasets"]
    datasets.append(bench_dataset("article", article_quads(), args.repeat,  # type: ignore[union-attr]
                                  with_reasonable=True, with_hermit=True))
    sizes = list(args.sizes) + ([1_000_000] if args.large else [])
    onto = ontology_quads()
    for size in sizes:
        quads = onto + list(generate(size))
        datasets.append(bench_dataset(f"synthetic-{size}", quads, 1,  # type: ignore[union-attr]
                                      with_reasonable=False, with_hermit=False))
    print("\n| dataset | asserted | rules (full) | rules (OWL RL) | owlrl | owlrl / rules |")
    print("|---|---|---|---|---|---|")
    for r in datasets:  # type: ignore[union-attr]
        print(f"| {r['dataset']} | {r['asserted']} | {r['rules']['seconds']} s | "
              f"{r['rules-owlrl']['seconds']} s | {r['owlrl']['seconds']} s | "
              f"{r['owlrl_over_rules']}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
