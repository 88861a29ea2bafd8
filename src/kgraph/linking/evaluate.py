"""Precision and recall of the links against a list of confirmed gold IDs.

``data/wikidata/gold.yaml`` lists, for the article's states, people,
organizations, treaties and wars, the Wikidata item confirmed with the search
tool (or ``null`` when no item could be confirmed). Precision counts accepted
links that equal the gold ID; recall counts gold IDs that were linked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kgraph.linking.candidates import normalise
from kgraph.linking.snapshot import WIKIDATA_DIR
from kgraph.namespaces import KGR

GOLD_PATH = WIKIDATA_DIR / "gold.yaml"


@dataclass
class Evaluation:
    """Counts and the entity-level detail behind them."""

    true_positive: list[str] = field(default_factory=list)
    false_positive: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    #: Gold entries with no matching KB entity (not counted).
    absent: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        n = len(self.true_positive) + len(self.false_positive)
        return 1.0 if n == 0 else len(self.true_positive) / n

    @property
    def recall(self) -> float:
        n = len(self.true_positive) + len(self.missed)
        return 1.0 if n == 0 else len(self.true_positive) / n


def load_gold(path: Path = GOLD_PATH) -> list[dict[str, Any]]:
    """Gold entries: ``{kb: kgr:X, label: ..., qid: Q.. or None, why: ...}``."""
    return yaml.safe_load(path.read_text("utf-8"))["entities"]


def evaluate(
    links: dict[str, str], labels: dict[str, str], gold: list[dict[str, Any]]
) -> Evaluation:
    """Compare ``links`` (entity IRI -> QID) with ``gold``.

    A gold entry is matched to a KB entity by IRI (``kb``), else by label, so
    the evaluation survives a renamed resource.
    """
    by_label = {normalise(lbl): iri for iri, lbl in labels.items()}
    ev = Evaluation()
    seen: set[str] = set()
    for entry in gold:
        iri = entry["kb"].replace("kgr:", KGR, 1)
        if iri not in labels and normalise(entry.get("label", "")) in by_label:
            iri = by_label[normalise(entry["label"])]
        name = f"{entry['kb']} ({entry.get('label', '')})"
        if iri not in labels:
            ev.absent.append(name)
            continue
        seen.add(iri)
        got = links.get(iri)
        want = entry.get("qid")
        if got and got == want:
            ev.true_positive.append(name)
        elif got:
            ev.false_positive.append(f"{name}: linked {got}, gold {want}")
        elif want:
            ev.missed.append(f"{name}: gold {want}")
    for iri, got in links.items():
        if iri not in seen:
            ev.false_positive.append(f"<{iri}>: linked {got}, not in the gold list")
    return ev
