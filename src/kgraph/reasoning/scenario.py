"""What-if scenarios: hypothetical events, and the obligations they would trigger.

A scenario is evaluated on the store's shared working copy (asserted graphs and
the closure, built once per store version: :mod:`kgraph.reasoning.workspace`),
with the hypothetical events as an overlay: a scenario graph holding them and a
graph of this request for what the rules derive from them, both removed again
before the lock is released. Nothing is written to the real store, so a scenario
can never change what is stored (the tests compare a sorted N-Quads dump of the
store and of the working copy before and after).

Events come as JSON::

    {"events": [{"type": "ArmedAttack", "attacker": "kgr:USA", "target": "kgr:DPRK",
                 "date": "2021-07-10"}]}

or as Turtle (any triples; the events are the subjects typed with a subclass of
``kgo:Event``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections import ChainMap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pyoxigraph import Literal, NamedNode, Quad, Store, Triple

from ..namespaces import KGO, KGR, PREFIXES, RDFS, XSD
from .engine import EngineRun
from .explain import GRAPH_SCENARIO, Explainer, quotes_in, rules_in, term_text
from .materialize import INFERRED, turtle_quads
from .workspace import WorkingCopy, overlay, working_copy

RDF_TYPE = NamedNode(PREFIXES["rdf"] + "type")
EVENT_KEYS = {"id", "type", "attacker", "target", "date", "label"}
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|^`\\]*$")


class ScenarioError(ValueError):
    """The scenario is malformed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def expand_iri(value: object, what: str) -> str:
    """A CURIE (``kgr:DPRK``) or an absolute IRI (``<...>`` optional) as an IRI."""
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{what} must be an IRI or a CURIE such as kgr:DPRK, got {value!r}")
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    prefix, sep, local = text.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        text = PREFIXES[prefix] + local
    elif sep and not local.startswith("//") and prefix.lower() not in _IRI_SCHEMES:
        # "kgx:USA" is syntactically an IRI with scheme "kgx", but surely a mistyped CURIE
        raise ScenarioError(f"{what}: unknown prefix {prefix!r} in {value!r} "
                            f"(prefixes: {', '.join(sorted(PREFIXES))})")
    if not _IRI.match(text) or ":" not in text:
        raise ScenarioError(f"{what}: {value!r} is not an absolute IRI or known CURIE "
                            f"(prefixes: {', '.join(sorted(PREFIXES))})")
    return text


#: Schemes accepted for IRIs written without ``//`` (others are taken for mistyped CURIEs).
_IRI_SCHEMES = {"urn", "tag", "mailto", "did", "data"}


def _event_type(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Za-z0-9]*", value):
        return KGO + value  # a bare local name of the ontology, e.g. ArmedAttack
    return expand_iri(value, "type")


def _date(value: object, where: str) -> Literal:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: date must be a string YYYY-MM-DD, got {value!r}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ScenarioError(f"{where}: date {value!r} is not a valid YYYY-MM-DD date") from None
    if not re.fullmatch(r"-?\d{4,}-\d{2}-\d{2}", value):
        raise ScenarioError(f"{where}: date {value!r} must be written YYYY-MM-DD")
    return Literal(value, datatype=NamedNode(XSD + "date"))


def events_from_json(doc: object) -> list[Quad]:
    """Validate a JSON scenario and turn it into quads of the scenario graph."""
    if not isinstance(doc, Mapping):
        raise ScenarioError('the scenario must be a JSON object like {"events": [...]}')
    unknown = set(doc) - {"events"}
    if unknown:
        raise ScenarioError(f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        raise ScenarioError('"events" must be a non-empty list of event objects')
    digest = hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    graph = NamedNode(GRAPH_SCENARIO)
    quads: list[Quad] = []
    for i, ev in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(ev, Mapping):
            raise ScenarioError(f"{where} must be an object")
        extra = set(ev) - EVENT_KEYS
        if extra:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; "
                                f"allowed: {', '.join(sorted(EVENT_KEYS))}")
        for key in ("type", "date"):
            if key not in ev:
                raise ScenarioError(f"{where}: missing {key!r}")
        node = NamedNode(
            expand_iri(ev["id"], f"{where}.id") if "id" in ev
            else f"{KGR}scenario/{digest}/event-{i + 1}"
        )
        quads.append(Quad(node, RDF_TYPE, NamedNode(_event_type(ev["type"])), graph))
        quads.append(Quad(node, NamedNode(KGO + "date"), _date(ev["date"], where), graph))
        for key in ("attacker", "target"):
            if key in ev:
                quads.append(Quad(node, NamedNode(KGO + key),
                                  NamedNode(expand_iri(ev[key], f"{where}.{key}")), graph))
        if "label" in ev:
            if not isinstance(ev["label"], str):
                raise ScenarioError(f"{where}.label must be a string")
            quads.append(Quad(node, NamedNode(RDFS + "label"), Literal(ev["label"]), graph))
    return quads


def events_from_turtle(text: str | bytes) -> list[Quad]:
    """Parse a Turtle scenario into quads of the scenario graph."""
    prologue = "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in PREFIXES.items())
    body = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        quads = turtle_quads(prologue + body, GRAPH_SCENARIO)
    except (SyntaxError, ValueError) as exc:
        lines = prologue.count("\n")
        raise ScenarioError(f"the Turtle does not parse: {exc} "
                            f"(line numbers count {lines} predefined @prefix lines)") from None
    _check_turtle_events(quads)
    return quads


def _check_turtle_events(quads: list[Quad]) -> None:
    """Hold Turtle scenarios to the rules JSON ones follow: typed events with one valid date."""
    events = {q.subject for q in quads if q.predicate == RDF_TYPE}
    if not events:
        raise ScenarioError("the Turtle scenario has no typed event (e.g. [] a kgo:ArmedAttack ...)")
    for event in sorted(events, key=str):
        dates = [q.object for q in quads if q.subject == event and q.predicate.value == KGO + "date"]
        if len(dates) != 1:
            raise ScenarioError(f"event {event}: needs exactly one kgo:date, has {len(dates)}")
        date = dates[0]
        if not isinstance(date, Literal) or date.datatype.value != XSD + "date":
            raise ScenarioError(f"event {event}: kgo:date must be an xsd:date literal, got {date}")
        _date(date.value, f"event {event}")


def events_from_body(body: bytes, content_type: str | None) -> list[Quad]:
    """Scenario quads from an HTTP body, by media type (415 for an unknown one)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("application/json", ""):
        if not body.strip():
            raise ScenarioError("empty request body; send JSON or Turtle")
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"the body is not valid JSON: {exc}") from None
        return events_from_json(doc)
    if media in ("text/turtle", "application/x-turtle"):
        try:
            return events_from_turtle(body)
        except UnicodeDecodeError:
            raise ScenarioError("the Turtle body is not UTF-8") from None
    raise ScenarioError(
        f"unsupported Content-Type {media!r}: send application/json or text/turtle", status=415
    )


# ---------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """The outcome of a scenario, with what explanations need."""

    events: list[dict[str, object]]
    obligations: list[dict[str, object]]
    warnings: list[str] = field(default_factory=list)
    #: The derivations the explanations were built from (the working copy's, plus the
    #: scenario's own); ``scratch`` is kept for compatibility and is always ``None``: the
    #: overlay is gone once the result is returned.
    run: EngineRun | None = field(default=None, repr=False)
    scratch: Store | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            "triggered_obligations": self.obligations,
            "warnings": self.warnings,
            "stored_data_changed": False,
        }


def _objects(store: Store, s: object, p: str) -> list[object]:
    return [q.object for q in store.quads_for_pattern(s, NamedNode(p), None)]


def _first(store: Store, s: object, p: str) -> object | None:
    values = sorted(_objects(store, s, p), key=str)
    return values[0] if values else None


def _ref(ex: Explainer, term: object | None) -> dict[str, object] | None:
    if term is None:
        return None
    out: dict[str, object] = {"iri": term.value if isinstance(term, NamedNode) else str(term)}
    label = ex.label(term)
    if label:
        out["label"] = label
    return out


def _is_event_class(store: Store, cls: NamedNode) -> bool:
    return bool(store.query(
        f"ASK {{ <{cls.value}> <{RDFS}subClassOf>* <{KGO}Event> }}",
        use_default_graph_as_union=True,
    ))


def _claim(ex: Explainer, claim: object) -> dict[str, object]:
    st = ex.store
    out = _ref(ex, claim) or {}
    for key, prop in (("text", "claimText"), ("date", "claimDate")):
        v = _first(st, claim, KGO + prop)
        if v is not None:
            out[key] = v.value  # type: ignore[union-attr]
    for key, prop in (("claimant", "claimant"), ("reported_by", "reportedBy"),
                      ("reported_in", "reportedIn")):
        vals = [_ref(ex, v) for v in sorted(_objects(st, claim, KGO + prop), key=str)]
        if vals:
            out[key] = vals
    contests = sorted({term_text(v) for v in _objects(st, claim, KGO + "contests")})
    if contests:
        out["contests"] = contests
    # quotes: the claim's own mentions and the evidence of every fact about it
    quotes = list(ex.mentions(claim))
    for q in st.quads_for_pattern(None, NamedNode(PREFIXES["rdf"] + "subject"), claim):
        quotes.extend(ex.quotes(_objects(st, q.subject, KGO + "hasEvidence")))
    seen: set[str] = set()
    uniq = []
    for q in sorted(quotes, key=lambda q: (q.get("start", 0), q["quote"])):
        if q["quote"] not in seen:
            seen.add(str(q["quote"]))
            uniq.append(q)
    out["quotes"] = uniq
    return out


def _why_not(ex: Explainer, run: EngineRun, event: NamedNode) -> list[str]:
    """Why no obligation protecting the event's target was triggered (for people)."""
    st = ex.store
    target = _first(st, event, KGO + "target")
    attacker = _first(st, event, KGO + "attacker")
    day = _first(st, event, KGO + "date")
    if target is None:
        return ["the event has no kgo:target, so it cannot meet an armed-attack condition"]
    notes: list[str] = []
    protecting = []
    for q in st.quads_for_pattern(None, NamedNode(KGO + "trigger"), None):
        ob, cond = q.subject, q.object
        ct = _first(st, cond, KGO + "conditionTarget") or _first(st, ob, KGO + "beneficiary")
        if ct == target:
            protecting.append(ob)
    if not protecting:
        return [f"no obligation in the knowledge base protects {term_text(target)} "
                "against an armed attack"]
    for ob in sorted(set(protecting), key=str):
        treaty = _first(st, ob, KGO + "arisesFrom")
        if treaty is None:
            notes.append(f"{term_text(ob)}: no treaty known for it")
            continue
        if day is not None and not any(
            st.quads_for_pattern(treaty, NamedNode(KGO + "inForceOn"), day)
        ):
            notes.append(f"{term_text(ob)}: {term_text(treaty)} was not in force on "
                         f"{day.value}")  # type: ignore[union-attr]
            continue
        if attacker is not None and any(
            st.quads_for_pattern(treaty, NamedNode(KGO + "hasParty"), attacker)
        ):
            notes.append(f"{term_text(ob)}: the attacker {term_text(attacker)} is itself a party "
                         f"to {term_text(treaty)}; the treaty is defensive")
            continue
        notes.append(f"{term_text(ob)}: its trigger condition is not met by this event")
    return notes


def run_scenario(
    store: object, scenario: Iterable[Quad], *, explain: bool = False
) -> ScenarioResult:
    """Evaluate hypothetical events over the store's working copy; never writes to ``store``.

    The events are an overlay on the shared working copy (see
    :mod:`kgraph.reasoning.workspace`): under its lock they are added to the
    scenario graph, the rules derive what is new into a graph of this request
    only, the answer is read, and both are removed again, so the working copy is
    exactly as before and concurrent scenarios never see each other's events.
    """
    scenario = list(dict.fromkeys(
        Quad(q.subject, q.predicate, q.object, NamedNode(GRAPH_SCENARIO)) for q in scenario))
    copy = working_copy(store)
    target = NamedNode(f"{GRAPH_SCENARIO}/derived/{uuid.uuid4().hex}")
    with copy.lock:
        added = overlay(copy, scenario)
        try:
            return _evaluate(copy, scenario, target, explain)
        finally:
            copy.scratch.remove_graph(target)
            for q in added:
                copy.scratch.remove(q)


def _evaluate(copy: WorkingCopy, scenario: list[Quad], target: NamedNode, explain: bool
              ) -> ScenarioResult:
    """The scenario's answer, read from the working copy while the overlay is in it."""
    scratch = copy.scratch
    known_subjects = {q.subject for q in scenario}
    warnings: list[str] = []
    events = sorted(
        {q.subject for q in scenario
         if q.predicate == RDF_TYPE and isinstance(q.object, NamedNode)
         and _is_event_class(scratch, q.object)},
        key=str,
    )
    if not events:
        raise ScenarioError("the scenario has no event: type at least one resource with "
                            "kgo:ArmedAttack or another subclass of kgo:Event")
    for q in scenario:
        if q.predicate == RDF_TYPE and q.subject in events and not _is_event_class(scratch, q.object):
            warnings.append(f"{term_text(q.subject)}: type {term_text(q.object)} is not a kind "
                            "of kgo:Event in the ontology")
        for role in ("attacker", "target"):
            if q.predicate == NamedNode(KGO + role) and q.object not in known_subjects and not any(
                scratch.quads_for_pattern(q.object, None, None, None)
            ) and not _mentioned(scratch, q.object):
                warnings.append(f"{term_text(q.object)} ({role}) is not in the knowledge base")
    # The novelty filter makes the engine add only what the closure already present lacks.
    new = copy.engine.run(scratch, target,
                          changed_since_fixpoint={q.predicate.value for q in scenario},
                          delta_graphs=[NamedNode(GRAPH_SCENARIO), target])
    run = EngineRun(
        derivations=ChainMap(new.derivations, copy.run.derivations),  # type: ignore[arg-type]
        alternatives=ChainMap(new.alternatives, copy.run.alternatives),  # type: ignore[arg-type]
        rounds=new.rounds, rule_runs=new.rule_runs, seconds=new.seconds,
        per_rule=new.per_rule, rule_seconds=new.rule_seconds,
    )
    ex = Explainer(run, scratch)
    obligations: list[dict[str, object]] = []
    event_out: list[dict[str, object]] = []
    for ev in events:
        entry: dict[str, object] = {"iri": ev.value}
        for key in ("attacker", "target"):
            ref = _ref(ex, _first(scratch, ev, KGO + key))
            if ref:
                entry[key] = ref
        types = sorted(term_text(t) for t in _objects(scratch, ev, RDF_TYPE.value)
                       if any(q.object == t for q in scenario if q.subject == ev))
        entry["type"] = types
        day = _first(scratch, ev, KGO + "date")
        if day is not None:
            entry["date"] = day.value  # type: ignore[union-attr]
        triggered = sorted(
            {q.subject for g in (target, INFERRED)
             for q in scratch.quads_for_pattern(None, NamedNode(KGO + "triggeredBy"), ev, g)},
            key=str,
        )
        entry["triggered"] = [o.value for o in triggered if isinstance(o, NamedNode)]
        if not triggered:
            entry["not_triggered_because"] = _why_not(ex, run, ev)
        event_out.append(entry)
        for ob in triggered:
            obligations.append(_obligation(ex, ob, ev, explain))
    return ScenarioResult(event_out, obligations, warnings, run, None)


def _mentioned(store: Store, term: object) -> bool:
    return next(store.quads_for_pattern(None, None, term), None) is not None


def _obligation(ex: Explainer, ob: object, event: object, explain: bool) -> dict[str, object]:
    st = ex.store
    out: dict[str, object] = {"obligation": _ref(ex, ob), "triggered_by": event.value}  # type: ignore[attr-defined]
    for key, prop in (("obligor", "obligor"), ("beneficiary", "beneficiary"),
                      ("action", "requiredAction"), ("modality", "modality"),
                      ("source_provision", "sourceProvision"), ("treaty", "arisesFrom")):
        out[key] = _ref(ex, _first(st, ob, KGO + prop))
    statuses = sorted(term_text(s) for s in _objects(st, ob, KGO + "status"))
    claims = sorted(_objects(st, ob, KGO + "contestedBy"), key=str)
    out["status"] = "contested" if claims else "uncontested"
    out["statuses"] = statuses
    out["contested_by"] = [_claim(ex, c) for c in claims]
    tree = ex.explain(Triple(ob, NamedNode(KGO + "triggeredBy"), event))
    out["explanation_summary"] = {
        "rules": rules_in(tree),
        "quotes": _unique_quotes(quotes_in(tree)),
    }
    if explain:
        out["explanation"] = tree
        out["contest_explanations"] = [
            ex.explain(Triple(ob, NamedNode(KGO + "contestedBy"), c)) for c in claims
        ]
    return out


def _unique_quotes(quotes: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[str] = set()
    out = []
    for q in quotes:
        if q["quote"] not in seen:
            seen.add(str(q["quote"]))
            out.append(q)
    return sorted(out, key=lambda q: (q.get("start", 0), str(q["quote"])))
