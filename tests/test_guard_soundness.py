"""The guard's token-level decisions, proven against a real SPARQL parser.

Over every query and update of the W3C SPARQL test suites (syntax and evaluation
tests, positive and negative), rdflib's parser is the reference:

- the SERVICE and LOAD IRIs the lexer finds (after codepoint escapes, prefixes
  and BASE) are exactly those rdflib's algebra holds, wherever rdflib parses;
- the text :func:`kgraph.sparql.guard.prepare` hands the engine means the same
  as the original: equal rdflib algebra (blank node labels and rdflib's own
  bookkeeping aside);
- the other rewrites kept in the lexer are equivalences too: ``engine_text``
  (boolean case, GROUP_CONCAT wrapped in STR: equal algebra modulo that STR),
  ``inject_using`` (equal algebra plus exactly the USING clauses asked for),
  ``has_dataset_clause`` and ``query_prefixes`` (the parser's dataset clause and
  prologue).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from rdflib.plugins.sparql import algebra, parser
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import BNode, URIRef, Variable

from kgraph.config import Settings
from kgraph.lexer import (
    engine_text,
    has_dataset_clause,
    inject_using,
    load_refs,
    query_prefixes,
    service_refs,
    tokenize,
)
from kgraph.sparql.guard import (
    ServiceNotAllowedError,
    expand_codepoints,
    nesting,
    parsed_outbound,
    prepare,
)
from kgraph.store.base import SparqlSyntaxError

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.w3c.manifest import Suite, default_suite_dir, load_tests  # noqa: E402

pytestmark = pytest.mark.slow
SUITE_DIR = default_suite_dir(REPO_ROOT)
_LOCK = threading.Lock()


@dataclass
class Operation:
    iri: str
    text: str
    update: bool
    positive: bool


@cache
def operations() -> list[Operation]:
    if not SUITE_DIR.is_dir():
        pytest.fail(f"W3C test data not found at {SUITE_DIR}; set KGRAPH_W3C_DIR")
    suite = Suite(SUITE_DIR)
    seen: set[str] = set()
    out: list[Operation] = []
    for test in load_tests(SUITE_DIR):
        if not test.operation or test.operation in seen or not suite.is_local(test.operation):
            continue
        seen.add(test.operation)
        try:
            text = suite.read_text(test.operation)
        except (OSError, UnicodeDecodeError):
            continue
        update = "Update" in test.kind or test.operation.endswith(".ru")
        out.append(Operation(test.operation, text, update, "Negative" not in test.kind))
    return out


def parse(text: str, update: bool) -> object:
    """rdflib's algebra of an already expanded text (its own expansion bypassed)."""
    with _LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 8000))
        try:
            if update:
                return algebra.translateUpdate(
                    parser.UpdateUnit.parse_string(text, parse_all=True)[0])
            return algebra.translateQuery(parser.Query.parse_string(text, parse_all=True))
        finally:
            sys.setrecursionlimit(limit)


def parses(text: str, update: bool) -> object | None:
    try:
        return parse(text, update)
    except Exception:  # noqa: BLE001 - rdflib's failures are many kinds
        return None


SKIP_KEYS = {"service_string", "_vars", "prologue", "PV", "datasetClause_"}


def canon(node: object, labels: dict[str, str] | None = None,
          unwrap_str: bool = False) -> object:
    """A comparable form of rdflib's algebra: blank nodes numbered in order of
    appearance, sets sorted, bookkeeping keys dropped; with ``unwrap_str``,
    ``STR(?__agg_n__)`` reads as ``?__agg_n__`` (the GROUP_CONCAT rewrite)."""
    labels = {} if labels is None else labels
    if isinstance(node, CompValue):
        arg = node.get("arg", None)
        if (unwrap_str and node.name == "Builtin_STR" and isinstance(arg, Variable)
                and str(arg).startswith("__agg_")):
            return canon(arg, labels, unwrap_str)
        if node.name == "BGP" and "triples" in node:
            # rdflib orders a BGP's triples by hashing: compare them as a sorted multiset,
            # blank nodes anonymous (their labels follow that order)
            return ("BGP", tuple(sorted(repr(tuple(("bnode",) if isinstance(t, BNode)
                                                   else repr(t) for t in triple))
                                        for triple in node["triples"])))
        items = [(k, canon(v, labels, unwrap_str)) for k, v in node.items()
                 if k not in SKIP_KEYS]
        return (node.name, tuple(items))
    if isinstance(node, BNode):
        return ("bnode", labels.setdefault(str(node), f"b{len(labels)}"))
    if isinstance(node, dict):
        return tuple((k, canon(v, labels, unwrap_str)) for k, v in node.items()
                     if k not in SKIP_KEYS)
    if isinstance(node, set | frozenset):
        return ("set", tuple(sorted(repr(canon(v, labels, unwrap_str)) for v in node)))
    if isinstance(node, list | tuple):
        return tuple(canon(v, labels, unwrap_str) for v in node)
    if hasattr(node, "algebra"):
        return canon(node.algebra, labels, unwrap_str)
    return repr(node)


@dataclass
class Outcome:
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, op: Operation, why: str) -> None:
        self.failures.append(f"{op.iri}: {why}")


def _settings_for(outbound_services: list[str], loads: list[str]) -> Settings:
    s = Settings(store_path=None, bootstrap=False, wikidata="live",
                 service_allowlist=tuple(outbound_services))
    object.__setattr__(s, "load_allowlist", tuple(loads))
    return s


@cache
def results() -> dict[str, Outcome]:
    found = {"nesting": Outcome(), "iris": Outcome(), "handoff": Outcome(),
             "handoff_rewritten": Outcome(), "engine_text": Outcome(),
             "inject_using": Outcome(), "dataset": Outcome(), "prefixes": Outcome(),
             "services_seen": Outcome(), "loads_seen": Outcome()}
    for op in operations():
        try:
            expanded = expand_codepoints(op.text)
        except SparqlSyntaxError:
            continue
        # 0. the linear pre-scan never under-counts the nesting the tokens show
        found["nesting"].checked += 1
        scanned, exact = nesting(expanded, limit=0).depth, token_depth(expanded)
        if scanned < exact:
            found["nesting"].fail(op, f"pre-scan depth {scanned} < token depth {exact}")
        tree = parses(expanded, op.update)
        if tree is None:
            continue
        # 1. SERVICE and LOAD IRIs: lexer == parser
        found["iris"].checked += 1
        try:
            reference = parsed_outbound(expanded, update=op.update)
        except ServiceNotAllowedError as exc:
            found["iris"].fail(op, f"the parser's walk failed: {exc}")
            continue
        found["services_seen"].checked += len(reference.services)
        found["loads_seen"].checked += len(reference.loads)
        lexed_services = Counter(r.iri for r in service_refs(expanded))
        parsed_services = Counter(reference.services)
        if lexed_services != parsed_services:
            found["iris"].fail(op, f"SERVICE: lexer {dict(lexed_services)} "
                                   f"parser {dict(parsed_services)}")
        lexed_loads = Counter(r.iri for r in load_refs(expanded)) if op.update else Counter()
        if lexed_loads != Counter(reference.loads):
            found["iris"].fail(op, f"LOAD: lexer {dict(lexed_loads)} "
                                   f"parser {dict(Counter(reference.loads))}")
        # 2. the hand-off means what rdflib reads in the original (its own expansion),
        #    with every SERVICE endpoint routed to a relay URL (the intended change)
        services = [s for s in reference.services if s is not None]
        routes = {iri: f"http://127.0.0.1:1/service/{n}"
                  for n, iri in enumerate(dict.fromkeys([*services, *reference.loads]))}
        try:
            handed = prepare(op.text, _settings_for(services, list(reference.loads)),
                             update=op.update, route=routes.__getitem__)
        except (SparqlSyntaxError, ServiceNotAllowedError):
            handed = None  # refused (variable SERVICE, nesting, ...): nothing to compare
        own = _rdflib_reading(op)
        if handed is not None and own is not None:
            found["handoff"].checked += 1
            if handed != op.text:
                found["handoff_rewritten"].checked += 1
            for node in _services(own):
                key = "term" if node.name == "ServiceGraphPattern" else "iri"
                node[key] = URIRef(routes.get(str(node[key]), str(node[key])))
            again = parses(expand_codepoints(handed), op.update)
            if again is None:
                found["handoff"].fail(op, "the handed text does not parse")
            elif canon(again) != canon(own):
                found["handoff"].fail(op, "the handed text has another algebra")
        # 3. engine_text
        try:
            rewritten = engine_text(expanded)
        except ValueError:
            rewritten = None
        if rewritten is not None and rewritten != expanded:
            found["engine_text"].checked += 1
            again = parses(rewritten, op.update)
            if again is None:
                found["engine_text"].fail(op, "engine_text's output does not parse")
            elif canon(again, unwrap_str=True) != canon(tree, unwrap_str=True):
                found["engine_text"].fail(op, "engine_text changed the algebra")
        if op.update:
            _check_inject_using(op, expanded, tree, found["inject_using"])
        else:
            _check_dataset_and_prefixes(op, expanded, found["dataset"], found["prefixes"])
    return found


def token_depth(text: str) -> int:
    """Bracket depth from the lexer's tokens (``<<`` and ``>>`` are two tokens each)."""
    depth = deepest = 0
    tokens = [t for t in tokenize(text) if t.kind == "punct"]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        pair = (i + 1 < len(tokens) and tokens[i + 1].start == tok.end
                and tokens[i + 1].text == tok.text and tok.text in "<>")
        if tok.text in "([{" or (pair and tok.text == "<"):
            depth += 1
            deepest = max(deepest, depth)
        elif tok.text in ")]}" or (pair and tok.text == ">"):
            depth = max(depth - 1, 0)
        i += 2 if pair else 1
    return deepest


G1, G2 = "http://example.org/using-1", "http://example.org/using-2"


def _check_inject_using(op: Operation, expanded: str, tree: object, out: Outcome) -> None:
    ops = list(getattr(tree, "algebra", tree))
    if not any(o.name == "Modify" for o in ops):
        return
    has_own = any(o.name == "Modify" and ("using" in o or "withClause" in o) for o in ops)
    try:
        injected = inject_using(expanded, [G1], [G2])
    except ValueError:
        if not has_own:
            out.fail(op, "inject_using refused an update without USING/WITH")
        return
    if has_own:
        out.fail(op, "inject_using accepted an update with its own USING/WITH")
        return
    out.checked += 1
    again = parses(injected, op.update)
    if again is None:
        out.fail(op, "inject_using's output does not parse")
        return
    new_ops = list(getattr(again, "algebra", again))
    for before, after in zip(ops, new_ops, strict=True):
        if after.name == "Modify":
            using = [(("default", str(u["default"])) if "default" in u
                      else ("named", str(u["named"]))) for u in after["using"]]
            if using != [("default", G1), ("named", G2)]:
                out.fail(op, f"USING clauses {using}")
        strip = {k: v for k, v in after.items() if k != "using"}
        if canon(strip) != canon({k: v for k, v in before.items() if k != "using"}):
            out.fail(op, f"inject_using changed {after.name} beyond USING")


def _check_dataset_and_prefixes(op: Operation, expanded: str, dataset: Outcome,
                                prefixes: Outcome) -> None:
    with _LOCK:
        try:
            parsed = parser.Query.parse_string(expanded, parse_all=True)
        except Exception:  # noqa: BLE001
            return
    dataset.checked += 1
    parser_says = "datasetClause" in parsed[1] and bool(parsed[1]["datasetClause"])
    if has_dataset_clause(expanded) != parser_says:
        dataset.fail(op, f"has_dataset_clause says {not parser_says}")
    lexed = query_prefixes(expanded)
    prologue = algebra.translatePrologue(parsed[0], None)
    prefixes.checked += 1
    for prefix, namespace in lexed.items():
        if str(prologue.resolvePName(prefix, "")) != namespace:
            prefixes.fail(op, f"prefix {prefix!r}: lexer {namespace} parser "
                              f"{prologue.resolvePName(prefix, '')}")
    declared = {p.prefix or "" for p in parsed[0] if p.name == "PrefixDecl"}
    if set(lexed) != declared:
        prefixes.fail(op, f"prefixes: lexer {sorted(lexed)} parser {sorted(declared)}")


@pytest.mark.parametrize("check, minimum", [
    ("nesting", 900), ("iris", 600), ("handoff", 500), ("handoff_rewritten", 5), ("engine_text", 5), ("inject_using", 20),
    ("dataset", 300), ("prefixes", 300),
])
def test_sound_against_rdflib(check: str, minimum: int) -> None:
    outcome = results()[check]
    assert not outcome.failures, "\n" + "\n".join(outcome.failures[:40])
    assert outcome.checked >= minimum, f"only {outcome.checked} operations checked"


def test_the_suite_has_service_and_load() -> None:
    """The soundness checks above mean something only if the suite names SERVICE and LOAD
    IRIs (counted by the parser's walk in the same pass)."""
    found = results()
    services, loads = found["services_seen"].checked, found["loads_seen"].checked
    assert services >= 5 and loads >= 3, (services, loads)


def test_a_rewrite_keeps_everything_but_the_endpoint() -> None:
    # The relay rewrite changes exactly the SERVICE IRI (the intended change).
    q = ("PREFIX wd: <https://query.wikidata.org/> SELECT ?s WHERE { ?s ?p ?o "
         "OPTIONAL { SERVICE wd:sparql { ?s ?q ?r } } }")
    routed = prepare(q, Settings(store_path=None, bootstrap=False, wikidata="live"),
                     update=False, route=lambda url: "http://127.0.0.1:1/service/1")
    relay = URIRef("http://127.0.0.1:1/service/1")
    original = parse(q, False)
    for node in _services(original):
        node["term"] = relay
    assert canon(parse(routed, False)) == canon(original)


def _rdflib_reading(op: Operation) -> object | None:
    """rdflib's algebra of the original text, escapes expanded by rdflib itself."""
    with _LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 8000))
        try:
            if op.update:
                return algebra.translateUpdate(parser.parseUpdate(op.text))
            return algebra.translateQuery(parser.parseQuery(op.text))
        except Exception:  # noqa: BLE001
            return None
        finally:
            sys.setrecursionlimit(limit)


def _services(tree: object) -> list[CompValue]:
    """The SERVICE patterns and LOAD operations of an algebra (what the relay routes)."""
    out: list[CompValue] = []
    stack = [getattr(tree, "algebra", tree)]
    while stack:
        item = stack.pop()
        if isinstance(item, CompValue):
            if item.name in ("ServiceGraphPattern", "Load"):
                out.append(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple | dict):
            stack.extend(item.values() if isinstance(item, dict) else item)
    return out
