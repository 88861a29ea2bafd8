"""``kgraph link``: link the knowledge base to Wikidata; ``kgraph wikidata``: the snapshot."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from kgraph.linking.client import WikidataClient, WikidataError, default_user_agent
from kgraph.linking.linker import review_table, run_linking
from kgraph.linking.links import link_quads, write_links
from kgraph.linking.scoring import DEFAULT_THRESHOLD
from kgraph.linking.snapshot import (
    CONFIRMED_PATH,
    LINKS_PATH,
    META_PATH,
    SNAPSHOT_PATH,
    build_snapshot,
    load_wikidata,
    refresh_snapshot,
    snapshot_qids,
)
from kgraph.namespaces import WIKIDATA_ENDPOINT

DEFAULT_CACHE = Path("var") / "cache" / "wikidata"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``link`` and ``wikidata`` subcommands."""
    p = subparsers.add_parser(
        "link",
        help="link KB entities to Wikidata items (skos:exactMatch / skos:closeMatch)",
        description="Fetch candidates from a Wikidata SPARQL endpoint, score them and write links "
        "into the links graph and data/wikidata/links.ttl.",
    )
    p.add_argument(
        "--endpoint", default=WIKIDATA_ENDPOINT, help="SPARQL endpoint (default: %(default)s)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the review table, write nothing")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="also rebuild data/wikidata/snapshot.ttl from the endpoint",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="score for skos:exactMatch (default: %(default)s)",
    )
    p.add_argument(
        "--store", type=Path, default=None, help="store directory (default: KGRAPH_STORE)"
    )
    p.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="answer cache (default: %(default)s)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the answer cache")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per request (default: %(default)s)"
    )
    p.add_argument(
        "--retries", type=int, default=4, help="retries on 429/5xx/timeouts (default: %(default)s)"
    )
    p.add_argument(
        "--links-file", type=Path, default=LINKS_PATH, help="links file (default: %(default)s)"
    )
    p.add_argument(
        "--snapshot", type=Path, default=SNAPSHOT_PATH, help="snapshot file for --refresh"
    )
    p.add_argument("--relink", action="store_true", help="also re-link entities the source links")
    p.add_argument(
        "--user-agent", default=None, help="User-Agent (default: kgraph/<v> (<KGRAPH_CONTACT>) ...)"
    )
    p.set_defaults(func=cmd_link)

    w = subparsers.add_parser("wikidata", help="build or load the offline Wikidata snapshot")
    w.add_argument(
        "action",
        choices=["build", "load", "evaluate"],
        help="build: snapshot.ttl from confirmed.yaml; load: snapshot + links into the store; "
        "evaluate: precision/recall of the store's links against data/wikidata/gold.yaml",
    )
    w.add_argument(
        "--store", type=Path, default=None, help="store directory (default: KGRAPH_STORE)"
    )
    w.set_defaults(func=cmd_wikidata)


def _open_store(path: Path | None):
    from kgraph.config import Settings
    from kgraph.store import open_configured

    return open_configured(Settings.from_env(store_path=path))


def cmd_link(args: argparse.Namespace) -> int:
    client = WikidataClient(
        endpoint=args.endpoint,
        user_agent=args.user_agent or default_user_agent(),
        cache_dir=None if args.no_cache else args.cache_dir,
        timeout=args.timeout,
        max_retries=args.retries,
    )
    store = _open_store(args.store)
    try:
        try:
            run = run_linking(store, client, threshold=args.threshold)
        except WikidataError as exc:
            print(f"kgraph link: {exc}; nothing was written", file=sys.stderr)
            return 2
        if not run.decisions and not run.skipped:
            print(
                "kgraph link: the store has no states, people, organizations, treaties or wars; "
                "run `kgraph ingest` first",
                file=sys.stderr,
            )
            return 1
        print(review_table(run))
        exact = sum(1 for d in run.decisions if d.exact)
        close = sum(len(d.close) for d in run.decisions)
        print(
            f"\n{exact} exactMatch, {close} closeMatch, {len(run.skipped)} asserted by the source, "
            f"{client.requests_sent} request(s) to {args.endpoint}"
        )
        if args.dry_run:
            print("dry run: nothing written")
            return 0
        if args.refresh:
            qids = sorted(
                set(run.links().values()) | set(snapshot_qids(META_PATH)), key=lambda q: int(q[1:])
            )
            try:
                n = refresh_snapshot(
                    client,
                    qids,
                    args.snapshot,
                    args.snapshot.with_name(args.snapshot.stem + ".meta.json"),
                )
            except WikidataError as exc:
                print(
                    f"kgraph link --refresh: {exc}; snapshot and links unchanged", file=sys.stderr
                )
                return 2
            print(f"snapshot: {n} triples for {len(qids)} items -> {args.snapshot}")
        quads = link_quads(run.decisions, datetime.now(UTC), args.endpoint, args.threshold)
        write_links(store, quads, args.links_file)
        print(f"links: {len(quads)} quads -> store and {args.links_file}")
        if args.refresh:
            load_wikidata(store, args.snapshot.parent)
        return 0
    finally:
        store.close()


def cmd_wikidata(args: argparse.Namespace) -> int:
    if args.action == "build":
        n = build_snapshot(CONFIRMED_PATH, SNAPSHOT_PATH, META_PATH)
        print(f"snapshot: {n} triples -> {SNAPSHOT_PATH}")
        return 0
    store = _open_store(args.store)
    if args.action == "evaluate":
        try:
            return _evaluate(store)
        finally:
            store.close()
    try:
        n = load_wikidata(store)
        print(f"loaded {n} quads (snapshot + links)")
        return 0
    finally:
        store.close()


def _evaluate(store) -> int:  # type: ignore[no-untyped-def]
    from kgraph.linking.evaluate import evaluate, load_gold
    from kgraph.linking.kb import kb_entities, qid_of
    from kgraph.linking.links import GRAPH_LINKS

    entities = kb_entities(store, GRAPH_LINKS)
    links: dict[str, str] = {}
    for row in store.query(
        "SELECT ?e ?wd WHERE { ?e <http://www.w3.org/2004/02/skos/core#exactMatch> ?wd }"
    ).rows:
        qid = qid_of(row[1].value)
        if qid:
            links.setdefault(row[0].value, qid)
    ev = evaluate(links, {e.iri: e.label for e in entities}, load_gold())
    print(f"precision {ev.precision:.3f}  recall {ev.recall:.3f}")
    for title, items in (
        ("correct", ev.true_positive),
        ("wrong", ev.false_positive),
        ("missed", ev.missed),
        ("not in the KB", ev.absent),
    ):
        print(f"{title}: {len(items)}")
        for item in items:
            print(f"  {item}")
    return 0
