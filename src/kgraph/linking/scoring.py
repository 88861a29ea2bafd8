"""Scoring candidates: name, type and context evidence, summed into a score in [0, 1].

The weights are small integers' worth of judgement, documented so a reviewer
can recompute a score by hand from the ``--dry-run`` table:

* name: exact English label 0.45, English alias 0.35 (case, hyphens and
  apostrophes ignored: "Kim Jong-un" = "Kim Jong Un");
* type: instance of the classes for the entity's kind, +0.20 (a candidate of
  the wrong type is dropped, not scored);
* context: each Wikidata statement linking the candidate to an item the
  article's facts connect the entity with (citizenship, positions, heads of
  state, signatories, parties...), +0.10, at most +0.30;
* dates: a date of the entity's facts that equals a candidate date +0.15; a
  candidate born, founded or started after the article, or a state dissolved
  before it, -0.30.

A candidate is *linked* (``skos:exactMatch``) when its score reaches the
threshold and beats the runner-up by at least ``MARGIN``; otherwise the best
candidates are written as ``skos:closeMatch`` for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgraph.linking.candidates import Candidate, normalise
from kgraph.linking.kb import Entity

NAME_LABEL = 0.45
NAME_ALIAS = 0.35
TYPE_OK = 0.20
CONTEXT_EACH = 0.10
CONTEXT_MAX = 0.30
DATE_MATCH = 0.15
DATE_CONFLICT = -0.30
MARGIN = 0.10
DEFAULT_THRESHOLD = 0.70


@dataclass
class Scored:
    """A candidate with its score and the reasons for it (for the review table)."""

    candidate: Candidate
    score: float
    reasons: list[str] = field(default_factory=list)

    @property
    def qid(self) -> str:
        return self.candidate.qid


def score_candidate(
    entity: Entity, cand: Candidate, context_qids: set[str], ref_date: str | None
) -> Scored | None:
    """Score one candidate; ``None`` when its type does not fit the entity's kind."""
    if not cand.type_ok:
        return None
    reasons: list[str] = []
    names = {normalise(n) for n in entity.names()}
    label_hit = any(m.startswith("label:") and normalise(m[6:]) in names for m in cand.matched) or (
        cand.label is not None and normalise(cand.label) in names
    )
    alias_hit = any(m.startswith("alias:") and normalise(m[6:]) in names for m in cand.matched)
    score = 0.0
    if label_hit:
        score += NAME_LABEL
        reasons.append(f"label={cand.label!r}")
    elif alias_hit:
        score += NAME_ALIAS
        reasons.append(
            "alias=" + ",".join(sorted(m[6:] for m in cand.matched if m[:6] == "alias:"))
        )
    score += TYPE_OK
    reasons.append("type ok")
    shared = sorted(cand.related & context_qids)
    if shared:
        score += min(CONTEXT_MAX, CONTEXT_EACH * len(shared))
        reasons.append("context " + " ".join(shared))
    cand_dates = {d for ds in cand.dates.values() for d in ds}
    matched_dates = sorted(d for d in entity.dates if len(d) >= 10 and d in cand_dates)
    if matched_dates:
        score += DATE_MATCH
        reasons.append("date " + matched_dates[0])
    if ref_date:
        starts = cand.dates.get("P569", set()) | cand.dates.get("P571", set())
        if any(d and d > ref_date for d in starts):
            score += DATE_CONFLICT
            reasons.append(f"starts after {ref_date}")
        ends = cand.dates.get("P576", set())
        if any(d and d < ref_date for d in ends):
            score += DATE_CONFLICT
            reasons.append(f"dissolved before {ref_date}")
    return Scored(cand, round(max(0.0, min(1.0, score)), 3), reasons)


@dataclass
class Decision:
    """What to write for one entity."""

    entity: Entity
    ranked: list[Scored]
    exact: Scored | None
    close: list[Scored]
    note: str = ""


def decide(entity: Entity, ranked: list[Scored], threshold: float) -> Decision:
    """Pick the exact match (if any) and the close matches for review."""
    ranked = sorted(ranked, key=lambda s: (-s.score, len(s.qid), s.qid))
    if not ranked:
        return Decision(entity, [], None, [], "no candidate of the right type")
    best = ranked[0]
    runner = ranked[1].score if len(ranked) > 1 else 0.0
    if best.score >= threshold and round(best.score - runner, 3) >= MARGIN:
        return Decision(entity, ranked, best, [], "")
    note = (
        f"below threshold {threshold}"
        if best.score < threshold
        else f"ambiguous: {ranked[1].qid} within {MARGIN}"
    )
    close = [s for s in ranked[:3] if s.score > 0]
    return Decision(entity, ranked, None, close, note)
