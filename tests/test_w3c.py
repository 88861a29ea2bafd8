"""W3C SPARQL 1.1 (and 1.0) conformance, one test per suite area, plus the totals.

The suites run once per session (about a second); each area's test then fails
on a failure not listed in ``tests/w3c/expected_failures.yaml`` and on a listed
test that passes, so the list stays true. Details: ``python -m tests.w3c -v``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Triple

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

#: Measured on pyoxigraph 0.5.13; raise them when the engine improves, never lower them.
#: Strict: literals compared as written.
EVALUATION_FLOOR = 568
#: Value-aware: term first, then value (as Oxigraph's and Jena's runners compare).
VALUE_AWARE_FLOOR = 595
from tests.w3c.results import Solutions, compare_graphs, compare_solutions  # noqa: E402
from tests.w3c.runner import PASS, sandbox  # noqa: E402
from tests.w3c.values import canonical  # noqa: E402

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
    by_value, _ = report.rate(EVALUATION_KINDS + FORMAT_KINDS, values=True)
    assert by_value >= VALUE_AWARE_FLOOR, (
        f"{by_value}/{total} of the query/update evaluation tests pass value-aware; the floor "
        f"is {VALUE_AWARE_FLOOR}. Reasons: docs/conformance.md")
    # a strict pass is a value-aware pass, never the other way round
    assert all(o.value_aware == PASS for o in report.ran(EVALUATION_KINDS + FORMAT_KINDS)
               if o.status == PASS)
    assert by_value > passed, "the value-aware comparison changed nothing: is it wired in?"


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


XSD = "http://www.w3.org/2001/XMLSchema#"


def _lit(lexical: str, datatype: str) -> Literal:
    return Literal(lexical, datatype=NamedNode(XSD + datatype))


@pytest.mark.parametrize(("a", "b", "equal"), [
    (("01", "integer"), ("1", "integer"), True),
    (("+1", "integer"), ("1", "integer"), True),
    (("1", "integer"), ("2", "integer"), False),
    (("1", "integer"), ("1.0", "decimal"), False),  # another datatype: never equal
    (("1", "integer"), ("1", "int"), False),
    (("300", "byte"), ("0300", "byte"), False),  # outside the type: compared as terms
    (("1.0", "decimal"), ("1", "decimal"), True),
    ((".50", "decimal"), ("0.5", "decimal"), True),
    (("-0.0", "decimal"), ("0", "decimal"), True),
    (("1.0E6", "double"), ("1000000", "double"), True),
    (("2.5E0", "double"), ("2.50", "double"), True),
    (("1.1", "float"), ("1.10000002", "float"), True),  # one float32 value
    (("1.1", "double"), ("1.10000002", "double"), False),
    (("-0", "double"), ("0.0e0", "double"), True),
    (("NaN", "double"), ("NaN", "double"), True),  # the same term
    (("INF", "double"), ("-INF", "double"), False),
    (("1", "boolean"), ("true", "boolean"), True),
    (("0", "boolean"), ("true", "boolean"), False),
    (("2002-10-10T12:00:00-05:00", "dateTime"), ("2002-10-10T17:00:00Z", "dateTime"), True),
    (("2002-10-10T17:00:00.500", "dateTime"), ("2002-10-10T17:00:00.5", "dateTime"), True),
    (("2002-10-10T17:00:00", "dateTime"), ("2002-10-10T17:00:00Z", "dateTime"), False),
    (("2002-10-10T24:00:00", "dateTime"), ("2002-10-11T00:00:00", "dateTime"), True),
    (("2006-08-23+00:00", "date"), ("2006-08-23Z", "date"), True),
    (("2006-08-23", "date"), ("2006-08-23Z", "date"), False),
    (("PT1H", "dayTimeDuration"), ("PT60M", "dayTimeDuration"), True),
    (("P1Y", "yearMonthDuration"), ("P12M", "yearMonthDuration"), True),
    (("P1M", "duration"), ("P30D", "duration"), False),
    (("abc", "integer"), ("abc", "integer"), True),
    (("abc", "integer"), ("0abc", "integer"), False),
])
def test_value_aware_literals(a: tuple[str, str], b: tuple[str, str], equal: bool) -> None:
    left, right = _lit(*a), _lit(*b)
    assert (canonical(left) == canonical(right)) is equal
    assert canonical(canonical(left)) == canonical(left)  # a canonical form is its own
    one = Solutions(["x"], [(left,)], ordered=False)
    other = Solutions(["x"], [(right,)], ordered=False)
    assert (compare_solutions(one, other, ordered=False, values=True) is None) is equal
    if left != right:
        assert compare_solutions(one, other, ordered=False) is not None  # strict: terms


def test_value_aware_comparison_keeps_blank_node_isomorphism_and_language_tags() -> None:
    a, b, c = BlankNode("a"), BlankNode("b"), BlankNode("c")
    one, one_again = _lit("1", "integer"), _lit("01", "integer")
    expected = Solutions(["x", "y"], [(a, one), (a, one), (b, one)], ordered=False)
    renamed = Solutions(["x", "y"], [(c, one_again), (c, one), (a, one_again)], ordered=False)
    assert compare_solutions(expected, renamed, ordered=False, values=True) is None
    assert compare_solutions(expected, renamed, ordered=False) is not None
    broken = Solutions(["x", "y"], [(c, one_again), (a, one), (b, one_again)], ordered=False)
    assert compare_solutions(expected, broken, ordered=False, values=True) is not None
    tagged = Solutions(["x"], [(Literal("chat", language="fr"),)], ordered=False)
    upper = Solutions(["x"], [(Literal("chat", language="FR"),)], ordered=False)
    assert compare_solutions(tagged, upper, ordered=False, values=True) is None
    p = NamedNode("http://example.org/p")
    assert compare_graphs([Triple(a, p, one)], [Triple(b, p, one_again)], values=True) is None
    assert compare_graphs([Triple(a, p, one)], [Triple(b, p, one_again)]) is not None
