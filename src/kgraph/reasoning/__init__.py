"""Reasoning: OWL 2 RL materialization, treaty-obligation rules, scenarios, explanations.

- :func:`materialize` recomputes the inferred graph from all other graphs
  (OWL 2 RL closure + the rules in ``ontology/rules/``), recording why each
  triple holds.
- :func:`run_scenario` evaluates hypothetical events as an overlay on the store's
  working copy (:func:`working_copy`: asserted data + derivations, once per version).
- :func:`explain_triple` gives the derivation tree of a triple, down to quotes.
- :func:`check_with_hermit` checks consistency and classifies with HermiT.

See docs/reasoning.md.
"""

from __future__ import annotations

from .engine import Derivation, EngineRun, RuleEngine
from .explain import Explainer, render_text
from .materialize import INFERRED, MaterializeReport, derivations_for, materialize
from .owl import OwlCheck, check_with_hermit
from .rules import Rule, RuleError, load_rules
from .scenario import ScenarioError, ScenarioResult, run_scenario
from .service import explain_obligation, explain_triple, parse_term
from .workspace import WorkingCopy, working_copy

__all__ = [
    "INFERRED",
    "Derivation",
    "EngineRun",
    "Explainer",
    "MaterializeReport",
    "OwlCheck",
    "Rule",
    "RuleEngine",
    "RuleError",
    "ScenarioError",
    "ScenarioResult",
    "WorkingCopy",
    "check_with_hermit",
    "derivations_for",
    "explain_obligation",
    "explain_triple",
    "load_rules",
    "materialize",
    "parse_term",
    "render_text",
    "run_scenario",
    "working_copy",
]
