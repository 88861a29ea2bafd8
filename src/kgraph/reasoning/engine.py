"""A forward-chaining engine over SPARQL CONSTRUCT rules, with provenance.

Rules run against a pyoxigraph store whose default graph is the union of all
graphs; what they derive goes into one target graph of that store. Each rule's
body runs as a SELECT with ``FILTER NOT EXISTS { <template> }`` appended, so the
engine only sees solutions that add something (oxigraph does the filtering, in
Rust). Every new triple is recorded with the rule and the bindings that first
produced it. Because a derivation is recorded only when its premises are
already present, following derivations back always ends at asserted triples:
explanations never loop.

Rules are grouped into strata (``# stratum: n``); each stratum runs to fixpoint
before the next starts, so a rule may use ``NOT EXISTS`` over conclusions of
lower strata (stratified negation). Within a stratum the engine re-runs a rule
only when a predicate it reads gained triples since it last ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pyoxigraph import NamedNode, Quad, Store, Triple

from .rules import Rule, instantiate


@dataclass(frozen=True)
class Derivation:
    """How one triple was first derived: the rule and the bindings of its body."""

    rule: Rule
    binding: tuple[tuple[str, object], ...]
    step: int

    def bindings(self) -> dict[str, object]:
        return dict(self.binding)

    def premises(self) -> list[Triple]:
        """The rule's positive body patterns instantiated with the bindings."""
        b = self.bindings()
        out: list[Triple] = []
        for pat in self.rule.premises:
            t = instantiate(pat, b)
            if t is not None and t not in out:
                out.append(t)
        return out


@dataclass
class EngineRun:
    """What one run of the engine produced."""

    derivations: dict[Triple, Derivation] = field(default_factory=dict)
    #: Other derivations, by domain rules (numbered strata), of triples that were
    #: already asserted or derived: e.g. an alliance a source states *and* the
    #: alliance rule concludes from the treaty. Explanations show both.
    alternatives: dict[Triple, list[Derivation]] = field(default_factory=dict)
    rounds: int = 0
    rule_runs: int = 0
    seconds: float = 0.0
    per_rule: dict[str, int] = field(default_factory=dict)
    #: Seconds spent in each rule (query + bookkeeping), for profiling.
    rule_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def triples(self) -> Iterator[Triple]:
        return iter(self.derivations)


def _with_novelty_filter(rule: Rule) -> str:
    """The rule's SELECT with ``FILTER NOT EXISTS { template }`` before the last ``}``."""
    select = rule.select
    end = select.rstrip().rfind("}")
    patterns = " . ".join(" ".join(_sparql_term(t) for t in pat) for pat in rule.template)
    return select[:end] + f"\n  FILTER NOT EXISTS {{ {patterns} }}\n" + select[end:]


_DELTA_VAR = "__kgdelta"
_DELTA_GRAPHS = "#KGRAPH-DELTA-GRAPHS#"


def _delta_selects(rule: Rule, select: str) -> list[str]:
    """Semi-naive variants of ``select``: one per premise, each driven by that premise
    matching a triple of the delta graphs (named at run time in place of a marker)."""
    from ..lexer import tokenize

    seen_select = False
    for tok in tokenize(select):
        if tok.depth == 0 and tok.is_word("SELECT"):
            seen_select = True
        elif seen_select and tok.depth == 0 and tok.text == "{":
            at = tok.end
            break
    else:
        return []
    out = []
    for pat in rule.premises:
        pattern = " ".join(_sparql_term(t) for t in pat)
        driver = (f"\n  VALUES ?{_DELTA_VAR} {{ {_DELTA_GRAPHS} }}"
                  f" GRAPH ?{_DELTA_VAR} {{ {pattern} }}\n")
        out.append(select[:at] + driver + select[at:])
    return out


def _sparql_term(term: object) -> str:
    if isinstance(term, str):
        return "?" + term
    return str(term)  # pyoxigraph terms print as N-Triples


class RuleEngine:
    """Runs a fixed list of rules to fixpoint on a store."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self._queries = {r.name: _with_novelty_filter(r) for r in self.rules}
        #: Semi-naive variants (with and without the novelty filter), for incremental runs.
        self._delta = {
            r.name: (_delta_selects(r, self._queries[r.name]), _delta_selects(r, r.select))
            for r in self.rules if r.delta_ok
        }
        self._needed = {
            r.name: sorted(
                {t for pat in (*r.template, *r.premises) for t in pat if isinstance(t, str)}
            )
            for r in self.rules
        }

    def strata(self) -> list[list[Rule]]:
        """Rules per stratum; ``stratum: all`` rules (the OWL RL closure) join every one."""
        common = [r for r in self.rules if r.stratum is None]
        # stratum 0 always exists, so the closure of the asserted data is complete
        # before any rule of a higher stratum negates over it
        levels = sorted({0} | {r.stratum for r in self.rules if r.stratum is not None})
        return [common + [r for r in self.rules if r.stratum == lv] for lv in levels]

    def run(
        self,
        store: Store,
        target: NamedNode,
        *,
        max_rounds: int = 1000,
        record: bool = True,
        changed_since_fixpoint: Iterable[str] | None = None,
        delta_graphs: Sequence[NamedNode] | None = None,
    ) -> EngineRun:
        """Derive into ``target`` until no rule adds anything; return the provenance.

        ``changed_since_fixpoint`` makes the run incremental: the store already holds
        the closure of its data under these rules, except that triples with these
        predicates were added since. Rules whose body reads none of them (nor anything
        derived since) are not re-run, as the engine would skip them within a run.
        ``delta_graphs`` (with it) names the graphs that hold everything added since the
        fixpoint (``target`` among them): rules whose premises say exactly which triples
        they use are then evaluated semi-naively, only for solutions that use one of
        those triples, instead of over all the data.
        """
        t0 = time.perf_counter()
        result = EngineRun()
        step = 0
        # predicate -> last step it changed; rule -> step it last ran. Kept across strata, so
        # a closure rule re-runs in a later stratum only when its input changed.
        changed: dict[str, int] = {}
        last_ran: dict[str, int] = {}
        incremental = changed_since_fixpoint is not None
        delta_values = ((" ".join(str(g) for g in delta_graphs), list(delta_graphs))
                        if incremental and delta_graphs else None)
        if changed_since_fixpoint is not None:
            changed = dict.fromkeys(changed_since_fixpoint, 0)
            last_ran = {r.name: 0 for r in self.rules}
        for stratum in self.strata():
            rounds = 0
            while True:
                rounds += 1
                if rounds > max_rounds:
                    raise RuntimeError(f"no fixpoint after {max_rounds} rounds")
                progress = False
                for rule in stratum:
                    if rule.name in last_ran:
                        since = last_ran[rule.name]
                        if rule.reads is not None:
                            if not any(changed.get(p, -1) >= since for p in rule.reads):
                                continue
                        elif max(changed.values(), default=-1) < since:
                            continue  # it reads any predicate, but nothing changed at all
                    step += 1
                    last_ran[rule.name] = step
                    result.rule_runs += 1
                    t_rule = time.perf_counter()
                    new = self._fire(store, rule, step, result, record, delta=delta_values)
                    result.rule_seconds[rule.name] = (
                        result.rule_seconds.get(rule.name, 0.0) + time.perf_counter() - t_rule
                    )
                    if new:
                        progress = True
                        store.extend(Quad(t.subject, t.predicate, t.object, target) for t in new)
                        for t in new:
                            changed[t.predicate.value] = step
                        result.per_rule[rule.name] = result.per_rule.get(rule.name, 0) + len(new)
                if not progress:
                    break
            if record:
                # One more pass of the domain rules without the novelty filter records their
                # conclusions that already held (asserted, or derived otherwise) as alternatives.
                for rule in stratum:
                    if rule.stratum is None:
                        continue
                    if incremental and rule.reads is not None and not any(
                        p in changed for p in rule.reads
                    ):
                        continue  # its alternatives are those of the fixpoint it started from
                    self._fire(store, rule, step, result, record, alternatives=True,
                               delta=delta_values)
            result.rounds += rounds
        result.seconds = time.perf_counter() - t0
        return result

    def _fire(
        self, store: Store, rule: Rule, step: int, result: EngineRun, record: bool,
        *, alternatives: bool = False,
        delta: tuple[str, Sequence[NamedNode]] | None = None,
    ) -> list[Triple]:
        if delta is not None and rule.name in self._delta:
            variants = self._delta[rule.name][1 if alternatives else 0]
            values, graphs = delta
            # only premises that some added triple can match drive a query (index lookups)
            queries = [
                q.replace(_DELTA_GRAPHS, values)
                for pat, q in zip(rule.premises, variants, strict=True)
                if any(next(store.quads_for_pattern(*(None if isinstance(t, str) else t
                                                       for t in pat), g), None) is not None
                       for g in graphs)
            ]
        else:
            queries = [rule.select if alternatives else self._queries[rule.name]]
        needed = self._needed[rule.name]
        new: list[Triple] = []
        derivations = result.derivations
        alts_out = result.alternatives if alternatives else None
        for b in _iter_solutions(store, queries):
            derivation: Derivation | None = None
            for pat in rule.template:
                t = instantiate(pat, b)
                if t is None:
                    continue
                known = t in derivations or next(
                    store.quads_for_pattern(t.subject, t.predicate, t.object), None
                ) is not None
                if known and alts_out is None:
                    continue
                if derivation is None:
                    binding = tuple((k, b[k]) for k in needed if b.get(k) is not None)
                    derivation = Derivation(rule, binding if record else (), step)
                if not known:
                    derivations[t] = derivation
                    new.append(t)
                elif alts_out is not None:
                    alts = alts_out.setdefault(t, [])
                    first = derivations.get(t)
                    same = first is not None and first.rule is rule and first.binding == derivation.binding
                    if not same and len(alts) < 3 and all(
                        a.rule is not rule or a.binding != derivation.binding for a in alts
                    ):
                        alts.append(derivation)
        return new


def _iter_solutions(store: Store, queries: Sequence[str]) -> Iterator[dict[str, object]]:
    for query in queries:
        solutions = store.query(query, use_default_graph_as_union=True)
        names = [v.value for v in solutions.variables]
        for sol in solutions:
            yield dict(zip(names, sol, strict=False))


def copy_into(store: Store, quads: Iterable[Quad]) -> None:
    """Bulk-copy quads into a scratch store."""
    store.bulk_extend(quads)
