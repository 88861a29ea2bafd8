"""The linking run: KB entities -> candidates -> scores -> decisions.

Scoring uses the links of the *other* entities as context (a person whose
citizenship is the state we just linked scores higher), so the run iterates:
each round re-scores every entity with the previous round's links, until the
links stop changing (at most ``MAX_ROUNDS``). Candidates are fetched once per
entity; further rounds cost the endpoint nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgraph.linking.candidates import Candidate, fetch_candidates
from kgraph.linking.client import WikidataClient
from kgraph.linking.kb import Entity, kb_entities, reference_date, related_qids
from kgraph.linking.links import GRAPH_LINKS
from kgraph.linking.scoring import (
    DEFAULT_THRESHOLD,
    MARGIN,
    Decision,
    decide,
    score_candidate,
)
from kgraph.store.base import Store

MAX_ROUNDS = 4
#: Score from which an unambiguous best candidate serves as context for the other entities.
PROVISIONAL = 0.6


@dataclass
class LinkRun:
    """The result of a run: decisions for the entities linked, and those skipped."""

    decisions: list[Decision]
    skipped: list[Entity]  # entities whose link the source asserts

    def links(self) -> dict[str, str]:
        """Entity IRI -> accepted QID (including the asserted ones)."""
        out = {e.iri: e.asserted[0] for e in self.skipped if e.asserted}
        out.update({d.entity.iri: d.exact.qid for d in self.decisions if d.exact})
        return out


def run_linking(
    store: Store,
    client: WikidataClient,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    relink_asserted: bool = False,
) -> LinkRun:
    """Link every KB entity that the source does not already link.

    Raises :class:`kgraph.linking.client.WikidataError` when the endpoint fails;
    nothing is written by this function in any case (see ``write_links``).
    """
    entities = kb_entities(store, GRAPH_LINKS)
    ref = reference_date(store)
    todo = [e for e in entities if relink_asserted or not e.asserted]
    skipped = [e for e in entities if e not in todo]
    candidates: dict[str, list[Candidate]] = {e.iri: fetch_candidates(client, e) for e in todo}
    # Context for round n: accepted links of round n-1 plus provisional ones (an unambiguous
    # best candidate scoring at least PROVISIONAL); only Wikidata statements that connect the two
    # items add to a score, so a provisional link cannot lift a candidate on its own.
    links = {e.iri: e.asserted[0] for e in skipped}
    decisions: list[Decision] = []
    for _ in range(MAX_ROUNDS):
        decisions = []
        for ent in todo:
            ctx = related_qids(ent, links)
            scored = [s for c in candidates[ent.iri] if (s := score_candidate(ent, c, ctx, ref))]
            decisions.append(decide(ent, scored, threshold))
        new_links = {e.iri: e.asserted[0] for e in skipped}
        for d in decisions:
            if d.exact:
                new_links[d.entity.iri] = d.exact.qid
            elif (
                d.ranked
                and d.ranked[0].score >= PROVISIONAL
                and (
                    len(d.ranked) == 1 or round(d.ranked[0].score - d.ranked[1].score, 3) >= MARGIN
                )
            ):
                new_links[d.entity.iri] = d.ranked[0].qid
        if new_links == links:
            break
        links = new_links
    return LinkRun(decisions, skipped)


def review_table(run: LinkRun) -> str:
    """A plain-text table of every decision, for ``kgraph link --dry-run``."""
    lines = [f"{'entity':32} {'kind':12} {'decision':11} {'QID':11} {'score':>5}  label / reasons"]
    for ent in run.skipped:
        lines.append(
            f"{ent.curie:32} {ent.kind:12} {'asserted':11} {','.join(ent.asserted):11} {'':>5}  "
            "(link given by the source)"
        )
    for d in run.decisions:
        ent = d.entity
        if d.exact is not None:
            s = d.exact
            lines.append(
                f"{ent.curie:32} {ent.kind:12} {'exactMatch':11} {s.qid:11} {s.score:5.2f}  "
                f"{s.candidate.label or ''} [{'; '.join(s.reasons)}]"
            )
        elif d.close:
            for i, s in enumerate(d.close):
                lines.append(
                    f"{(ent.curie if i == 0 else ''):32} {(ent.kind if i == 0 else ''):12} "
                    f"{'closeMatch':11} {s.qid:11} {s.score:5.2f}  {s.candidate.label or ''} "
                    f"[{'; '.join(s.reasons)}]" + (f"  <- {d.note}" if i == 0 and d.note else "")
                )
        else:
            lines.append(f"{ent.curie:32} {ent.kind:12} {'unlinked':11} {'-':11} {'':>5}  {d.note}")
    return "\n".join(lines)
