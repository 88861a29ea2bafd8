"""Scenario input is validated the same way whatever its syntax (JSON or Turtle)."""

from __future__ import annotations

import pytest


def post(client, body: str, content_type: str):  # type: ignore[no-untyped-def]
    return client.post("/reason/scenario", data=body.encode(), content_type=content_type)


@pytest.mark.parametrize("body", [
    # a mistyped prefix is not silently taken for an IRI scheme
    '{"events": [{"type": "ArmedAttack", "attacker": "kgx:USA", "target": "kgr:DPRK", "date": "2021-07-10"}]}',
    '{"events": [{"type": "ArmedAttack", "attacker": "kgr:USA", "target": "kgr:DPRK"}]}',
    '{"events": [{"type": "ArmedAttack", "attacker": "kgr:USA", "target": "kgr:DPRK", "date": "2021-13-40"}]}',
])
def test_bad_json_scenarios_are_400(client, body: str) -> None:
    r = post(client, body, "application/json")
    assert r.status_code == 400, r.data
    assert "error" in r.json


@pytest.mark.parametrize("body", [
    "[] a kgo:ArmedAttack ; kgo:attacker kgr:USA ; kgo:target kgr:DPRK .",
    '[] a kgo:ArmedAttack ; kgo:attacker kgr:USA ; kgo:target kgr:DPRK ; kgo:date "2021-07-10" .',
    "kgr:USA kgo:attacker kgr:DPRK .",
])
def test_bad_turtle_scenarios_are_400(client, body: str) -> None:
    r = post(client, body, "text/turtle")
    assert r.status_code == 400, r.data
    assert "error" in r.json
