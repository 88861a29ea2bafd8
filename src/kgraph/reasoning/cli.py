"""``kgraph reason``, ``kgraph scenario FILE`` and ``kgraph explain``.

They work on a store directory (``--store`` or ``KGRAPH_STORE``) or, with
``--kb``, on an in-memory store bootstrapped from the ontology and the facts
files kgraph ships (or ``KGRAPH_DATA_DIR``'s; handy when a server holds the store's lock).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import Settings


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..store import open_configured, open_store

    if getattr(args, "kb", False):
        from ..bootstrap import ensure_loaded

        store = open_store(None)
        ensure_loaded(store, Settings(store_path=None))
        return store
    settings = Settings.from_env(store_path=args.store)
    if (not settings.store_url and settings.store_path is not None
            and not Path(settings.store_path).exists()):
        raise SystemExit(f"kgraph: no store at {settings.store_path}; start the server once "
                         "(it loads the knowledge base), give --store, or use --kb")
    store = open_configured(settings)
    from ..namespaces import GRAPH_ONTOLOGY

    if not store.contains_graph(GRAPH_ONTOLOGY):
        store.close()
        raise SystemExit(f"kgraph: the store at {settings.store_url or settings.store_path} "
                         "holds no ontology; "
                         "load the knowledge base first (server start or kgraph ingest), or use --kb")
    return store


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="PATH", help="store directory (env KGRAPH_STORE)")
    p.add_argument("--kb", action="store_true",
                   help="use an in-memory store loaded from the shipped ontology and data")


def _cmd_reason(args: argparse.Namespace) -> int:
    from . import check_with_hermit, materialize
    from .materialize import asserted_quads

    store = _open(args)
    try:
        report = materialize(store, engine=args.engine)
        out: dict[str, object] = {"materialize": report.as_dict()}
        if args.hermit:
            out["hermit"] = check_with_hermit(asserted_quads(store)).as_dict()
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        r = report
        print(f"{r.engine}: {r.input_triples} asserted quads -> {r.inferred_triples} inferred "
              f"triples in {r.seconds:.3f}s ({r.rounds} rounds, {r.rule_runs} rule runs)")
        if "hermit" in out:
            h = out["hermit"]
            print(f"HermiT: {h['message']} ({h['seconds']}s; {h['skipped_literals']} literals "  # type: ignore[index]
                  "with datatypes outside the OWL 2 datatype map left out)")
    hermit = out.get("hermit")
    return 0 if not isinstance(hermit, dict) or hermit.get("consistent") else 3


def _cmd_scenario(args: argparse.Namespace) -> int:
    from .explain import render_text
    from .scenario import ScenarioError, events_from_json, events_from_turtle, run_scenario

    path = Path(args.file)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else path.read_bytes()
    except OSError as exc:
        print(f"kgraph scenario: {exc}", file=sys.stderr)
        return 2
    try:
        if path.suffix.lower() in (".ttl", ".turtle") or args.turtle:
            quads = events_from_turtle(raw)
        else:
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise ScenarioError(f"{path}: not valid JSON ({exc}); use .ttl for Turtle") from None
            quads = events_from_json(doc)
        store = _open(args)
        try:
            result = run_scenario(store, quads, explain=args.explain)
        finally:
            store.close()
    except ScenarioError as exc:
        print(f"kgraph scenario: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return 0
    for w in result.warnings:
        print(f"warning: {w}")
    for ev in result.events:
        who = ev.get("attacker", {}).get("label", "?")  # type: ignore[union-attr]
        whom = ev.get("target", {}).get("label", "?")  # type: ignore[union-attr]
        print(f"event {ev['iri']} ({', '.join(ev['type'])}, {ev.get('date')}): {who} -> {whom}")  # type: ignore[arg-type]
        if not ev["triggered"]:
            print("  no obligation triggered:")
            for why in ev.get("not_triggered_because", []):  # type: ignore[union-attr]
                print(f"    - {why}")
    for ob in result.obligations:

        def lab(k: str, ob: dict = ob) -> object:  # type: ignore[type-arg]
            ref = ob.get(k) or {}
            return ref.get("label") or ref.get("iri")

        print(f"\nTRIGGERED: {lab('obligor')} must {lab('action')} for {lab('beneficiary')} "
              f"(under {lab('source_provision')} of {lab('treaty')}) -- {ob['status']}")
        for c in ob["contested_by"]:  # type: ignore[union-attr]
            print(f"  contested by {c.get('label') or c['iri']}")
            for q in c.get("quotes", []):
                print(f"    “{q.get('exact')}” (chars {q.get('start')}-{q.get('end')})")
        if args.explain:
            print("  why triggered:")
            print(render_text(ob["explanation"], "    "))  # type: ignore[arg-type]
            for tree in ob.get("contest_explanations", []):  # type: ignore[union-attr]
                print("  why contested:")
                print(render_text(tree, "    "))
    if not result.obligations:
        print("\nno treaty obligation is triggered by this scenario")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import render_text
    from .scenario import ScenarioError
    from .service import explain_obligation, explain_triple

    if not args.obligation and not (args.s and args.p and args.o):
        print("kgraph explain: give S P O, or --obligation IRI", file=sys.stderr)
        return 2
    store = _open(args)
    try:
        if args.obligation:
            out = explain_obligation(store, args.obligation, max_depth=args.depth)
            trees = out["inferred"]
        else:
            out = explain_triple(store, args.s, args.p, args.o, max_depth=args.depth)
            trees = [out]
    except (ScenarioError, LookupError) as exc:
        print(f"kgraph explain: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for tree in trees:  # type: ignore[union-attr]
            print(render_text(tree))
            print()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    reason = sub.add_parser("reason", help="materialize the inferred graph (OWL 2 RL + rules)")
    _add_store_args(reason)
    reason.add_argument("--engine", choices=["rules", "owlrl", "reasonable"], default="rules")
    reason.add_argument("--hermit", action="store_true",
                        help="also check consistency and classify with HermiT")
    reason.add_argument("--json", action="store_true", help="JSON report")
    reason.set_defaults(func=_cmd_reason)

    scen = sub.add_parser("scenario", help="what-if: obligations triggered by hypothetical events")
    scen.add_argument("file", metavar="FILE", help="JSON ({\"events\": [...]}) or Turtle (.ttl); - for stdin")
    _add_store_args(scen)
    scen.add_argument("--turtle", action="store_true", help="read FILE as Turtle")
    scen.add_argument("--explain", action="store_true", help="print the derivation trees")
    scen.add_argument("--json", action="store_true", help="JSON output")
    scen.set_defaults(func=_cmd_scenario)

    exp = sub.add_parser("explain", help="derivation tree of a triple or an obligation")
    exp.add_argument("s", nargs="?", help="subject IRI or CURIE")
    exp.add_argument("p", nargs="?", help="predicate IRI or CURIE")
    exp.add_argument("o", nargs="?", help='object IRI, CURIE or literal ("1961-07-11"^^xsd:date)')
    exp.add_argument("--obligation", metavar="IRI", help="explain every inferred triple about it")
    exp.add_argument("--depth", type=int, default=25, help="maximum tree depth")
    _add_store_args(exp)
    exp.add_argument("--json", action="store_true", help="JSON output")
    exp.set_defaults(func=_cmd_explain)
