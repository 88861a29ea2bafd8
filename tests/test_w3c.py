"""W3C SPARQL 1.1 (and 1.0) conformance, one test per suite area, plus the totals.

The suites run once per session (about a second); each area's test then fails
on a failure not listed in ``tests/w3c/expected_failures.yaml`` and on a listed
test that passes, so the list stays true. Details: ``python -m tests.w3c -v``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `tests` is a plain folder: make `tests.w3c` importable
    sys.path.insert(0, str(REPO_ROOT))

from tests.w3c.__main__ import run  # noqa: E402
from tests.w3c.manifest import (  # noqa: E402
    EVALUATION_KINDS,
    FORMAT_KINDS,
    SYNTAX_KINDS,
    default_suite_dir,
    load_tests,
)
from tests.w3c.report import EVALUATION_TARGET, Report  # noqa: E402

#: Measured on pyoxigraph 0.5.13; raise it when the engine improves, never lower it.
EVALUATION_FLOOR = 568
from tests.w3c.results import Solutions, compare_solutions  # noqa: E402
from tests.w3c.runner import PASS, sandbox  # noqa: E402

pytestmark = pytest.mark.w3c

SUITE_DIR = default_suite_dir(REPO_ROOT)
AREAS = sorted({t.area for t in load_tests(SUITE_DIR)}) if SUITE_DIR.is_dir() else ["<missing>"]


@pytest.fixture(scope="module")
def report() -> Report:
    if not SUITE_DIR.is_dir():
        pytest.fail(f"W3C test data not found at {SUITE_DIR}; set KGRAPH_W3C_DIR")
    return run(SUITE_DIR)


def _describe(report: Report, outcomes: list) -> str:
    return "\n".join(
        f"{report.verdicts[o.test.iri]}: {o.test.iri}\n    " + o.detail.replace("\n", "\n    ")
        for o in outcomes
    )


@pytest.mark.parametrize("area", AREAS)
def test_area(report: Report, area: str) -> None:
    unexpected = report.unexpected(area)
    assert not unexpected, "\n" + _describe(report, unexpected)


def test_expected_failure_list_names_real_tests(report: Report) -> None:
    assert not report.stale_entries()


def test_evaluation_pass_rate(report: Report) -> None:
    """No regression below what the engine achieves today.

    Issue 2 asks for EVALUATION_TARGET (98%); pyoxigraph 0.5.13 cannot reach it
    while it rewrites literals into canonical form (see docs/conformance.md),
    so the suite guards the measured floor and the issue stays open on the gap.
    Every failure is also named, with its reason, in expected_failures.yaml.
    """
    passed, total = report.rate(EVALUATION_KINDS + FORMAT_KINDS)
    assert total > 600, "the query/update evaluation tests were not all found"
    assert passed >= EVALUATION_FLOOR, (
        f"{passed}/{total} = {passed / total:.1%} of the query/update evaluation tests pass; "
        f"the floor is {EVALUATION_FLOOR} (target {EVALUATION_TARGET:.0%}). Reasons: docs/conformance.md"
    )


def test_every_syntax_test_passes(report: Report) -> None:
    ran = report.ran(SYNTAX_KINDS)
    assert len(ran) > 360, "the syntax tests were not all found"
    failing = [o for o in ran if o.status != PASS]
    assert not failing, "\n" + _describe(report, failing)


# -- the comparison itself must be able to fail ---------------------------------------
def test_solutions_compare_up_to_blank_node_renaming() -> None:
    a, b, c = BlankNode("a"), BlankNode("b"), BlankNode("c")
    one = Literal("1", datatype=NamedNode("http://www.w3.org/2001/XMLSchema#integer"))
    expected = Solutions(["x", "y"], [(a, one), (a, None), (b, one)], ordered=False)
    renamed = Solutions(["y", "x"], [(one, c), (None, c), (one, a)], ordered=False)
    assert compare_solutions(expected, renamed, ordered=False) is None
    # the same blank node in two rows must stay the same after renaming
    broken = Solutions(["y", "x"], [(one, c), (None, a), (one, b)], ordered=False)
    assert compare_solutions(expected, broken, ordered=False) is not None
    # order matters only when asked, and lexical forms always matter
    swapped = Solutions(["x", "y"], [(b, one), (a, one), (a, None)], ordered=True)
    assert compare_solutions(expected, swapped, ordered=False) is None
    assert compare_solutions(expected, swapped, ordered=True) is not None
    other_form = Literal("01", datatype=one.datatype)
    changed = Solutions(["x", "y"], [(a, other_form), (a, None), (b, one)], ordered=False)
    assert compare_solutions(expected, changed, ordered=False) is not None


def test_remote_iris_are_pointed_at_local_stand_ins() -> None:
    query = ("PREFIX ex: <http://example.org/>\nSELECT * { SERVICE ex:sparql { ?s ?p ?o } "
             "SERVICE SILENT <http://invalid.example/> { ?s ?p ?o } }")
    out = sandbox(query, "https://w3c.github.io/x.rq",
                  {"http://example.org/sparql": "http://127.0.0.1:1234/sparql"},
                  "http://127.0.0.1:9999/none")
    assert "SERVICE <http://127.0.0.1:1234/sparql>" in out
    assert "SERVICE SILENT <http://127.0.0.1:9999/none>" in out
    update = "LOAD <remote> INTO GRAPH <g> ; LOAD SILENT <somescheme://x/>"
    out = sandbox(update, "https://w3c.github.io/x.ru", {}, "http://127.0.0.1:9999/none")
    assert out == "LOAD <http://127.0.0.1:9999/none> INTO GRAPH <g> ; LOAD SILENT <somescheme://x/>"
