"""The benchmark command, run for real at a tiny scale: outputs exist, parse and hold ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_generator_is_seeded_and_uses_the_ontology(tmp_path: Path) -> None:
    from bench.generate import write

    one = write(3000, 5, tmp_path / "one", progress=False)
    two = write(3000, 5, tmp_path / "two", progress=False)
    other = write(3000, 6, tmp_path / "other", progress=False)
    a = (tmp_path / "one" / "data.nq").read_bytes()
    assert a == (tmp_path / "two" / "data.nq").read_bytes()
    assert a != (tmp_path / "other" / "data.nq").read_bytes()
    assert one["triples"] == two["triples"] and one["pools"] == two["pools"]
    assert other["triples"] > 0
    text = a.decode()
    for term in ("#RoleAssignment>", "#startDate>", "#Obligation>", "#obligor>", "#claimant>",
                 "#reportedBy>", "#ArmedAttack>", "TextQuoteSelector>", "#Summit>"):
        assert term in text, term
    states = (tmp_path / "one" / "pools" / "state.txt").read_text().splitlines()
    days = (tmp_path / "one" / "pools" / "day.txt").read_text().splitlines()
    assert days and all(d.endswith("^^<http://www.w3.org/2001/XMLSchema#date>") for d in days)
    assert states and all(s.startswith("<http://example.org/synthetic/state/") for s in states)


def test_every_workload_query_parses_with_its_parameter() -> None:
    import pyoxigraph as ox

    from bench.workload import all_queries

    day = '"1965-06-06"^^<http://www.w3.org/2001/XMLSchema#date>'
    terms = {"day": day, "date": day}
    store = ox.Store()
    for q in all_queries():
        term = terms.get(q.pool or "", "<http://example.org/synthetic/x/1>") if q.pool else None
        store.query(q.render(term))  # raises SyntaxError on a bad query


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_run_tiny(tmp_path: Path) -> None:
    # no skip when wrk is missing: the command installs it (apt-get install -y wrk)
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--triples", "10000", "--duration", "1",
         "--connections", "1,4", "--contestants", "a,b", "--reasoning-sizes", "",
         "--stream-rows", "5000", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / "latest.json").read_text())
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "latest.md").read_text()
    assert "## Targets" in md and "Oxigraph server" in md and "cpu" in md
    assert res["data"]["triples"] >= 10_000
    b = res["contestants"]["b"]
    a = res["contestants"]["a"]
    assert a["answers_agree"], a.get("answer_mismatch")
    for cls in ("cheap", "engine-bound", "repeated"):
        runs = {r["connections"]: r for r in b["classes"][cls]}
        assert set(runs) == {1, 4} and all(r["requests"] > 0 for r in runs.values())
        ratio = res["ratios"]["a"][cls]["4"]["throughput"]
        assert isinstance(ratio, float) and ratio > 0
    assert res["load"]["kgraph_over_oxigraph"] > 0
    assert a["stream"]["rows"] == 5000 and a["stream"]["status"] == 200
    assert any(t["target"].startswith("cheap throughput") for t in res["targets"])
