"""The entity, ontology and picture pages in headless Chromium, against the knowledge-base
server (the session's ``kb_server``, shared with the editor tests; one browser per session).

Every page runs in a context that fails the test on a request leaving 127.0.0.1 or a
JavaScript error (tests/browser.py). Screenshots are saved as test artifacts; those the
README shows are also copied to ``docs/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgraph.namespaces import KGR

from .browser import screenshot

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "screenshots"


def _goto(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url


def test_entity_page_links_a_fact_to_its_place_in_the_text(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/resource/DPRK")
    assert page.locator("#kg-title").inner_text() == "Democratic People’s Republic of Korea"
    assert page.locator(".kg-row-inferred").count() > 0
    assert page.locator(".kg-wikidata a[href='https://www.wikidata.org/wiki/Q423']").count() == 1
    assert page.locator(".kg-claims tbody tr").count() >= 2
    screenshot(page, "entity", also=SHOTS / "entity.png")
    # follow the quote of "PRC allied with DPRK" to the article: highlighted there
    page.locator("a.kg-in-text[href$='#q-740-791']").first.click()
    page.wait_for_url("**/article/bandow-2021-07-10#q-740-791")
    page.wait_for_selector("body[data-ready='1']")
    marked = page.locator(".kg-q.kg-target")
    assert marked.count() > 0
    assert "".join(marked.all_inner_texts()) == "Pyongyang and Beijing remain formal military allies"
    side = page.locator("#kg-article-facts")
    assert "allied with" in side.inner_text()
    # the side panel links the fact back to the entities
    assert side.locator("a[href='/resource/PRC']").count() > 0
    screenshot(page, "article", also=SHOTS / "article.png")
    # clicking another passage shows its facts
    page.locator(".kg-q[data-q~='1259-1308']").first.click()
    assert "1259-1308" in side.inner_text()


def test_inferred_fact_opens_its_explanation(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/resource/DPRK")
    row = page.locator("tr.kg-row-inferred", has=page.locator("a[href='/resource/PRC']"))
    row.locator("a.kg-why").first.click()
    page.wait_for_selector("#kg-explain[data-ready='1']")
    tree = page.locator("#kg-explain")
    assert "by rule" in tree.inner_text()
    assert tree.locator(".kg-kind-asserted").count() > 0  # down to stated facts


def test_graph_renders_filters_and_opens_a_node(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/graph")
    page.wait_for_selector("#kg-graph[data-drawn='1']")
    page.wait_for_selector("#kg-graph canvas")
    status = page.locator("#kg-graph-status")
    before = int(status.inner_text().split()[0])
    assert before > 50
    page.wait_for_selector("#kg-graph[data-ready='1']", timeout=60_000)
    screenshot(page, "graph", also=SHOTS / "graph.png")
    page.locator("#kg-graph-filters input[value='claim']").uncheck()
    after = int(status.inner_text().split()[0])
    claims = int(page.locator(".kg-count[data-kind='claim']").inner_text().strip("()"))
    assert claims > 0 and after == before - claims
    # a click on a node opens its page
    dprk = KGR + "DPRK"
    x, y = page.evaluate(
        """(id) => { const p = window.kgNetwork.getPositions([id])[id];
                     const d = window.kgNetwork.canvasToDOM(p); return [d.x, d.y]; }""", dprk)
    box = page.locator("#kg-graph").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/resource/DPRK")
    assert page.locator("#kg-title").inner_text() == "Democratic People’s Republic of Korea"


def test_timeline_renders_the_events(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/timeline")
    page.wait_for_selector("#kg-timeline[data-ready='1']")
    page.wait_for_selector("#kg-timeline .vis-item")
    labels = page.locator("#kg-timeline .vis-item").all_inner_texts()
    assert any("signing of the Sino-DPRK treaty" in t for t in labels)
    shown = int(page.locator("#kg-timeline-status").inner_text().split()[0])
    page.locator("#kg-timeline-filters input[value='claim']").check()
    assert int(page.locator("#kg-timeline-status").inner_text().split()[0]) > shown
    page.locator("#kg-timeline-filters input[value='claim']").uncheck()
    screenshot(page, "timeline", also=SHOTS / "timeline.png")


def test_scenario_runs_the_reasoner_and_explains(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/scenario")
    page.select_option("#kg-sc-type", "ArmedAttack")
    page.select_option("#kg-sc-attacker", "kgr:USA")
    page.select_option("#kg-sc-target", "kgr:DPRK")
    page.fill("#kg-sc-date", "2021-07-10")
    page.click("#kg-sc-run")
    page.wait_for_selector("#kg-sc-result[data-ready='1']", timeout=60_000)
    result = page.locator("#kg-sc-result")
    assert page.locator("#kg-sc-summary").inner_text() == "1 obligation triggered"
    card = result.locator(".kg-obligation")
    assert card.get_attribute("data-obligation") == KGR + "obligation/PRC-defend-DPRK"
    assert "People’s Republic of China" in card.inner_text()
    assert card.locator(".kg-explanation .kg-tree-rule").count() > 0
    assert "mutual-defence-triggered" in card.inner_text()
    assert card.locator("a.kg-in-text").count() > 0  # the explanation reaches the quotes
    screenshot(page, "scenario", also=SHOTS / "scenario.png")
    # before the treaty was signed nothing is triggered
    page.fill("#kg-sc-date", "1955-01-01")
    page.click("#kg-sc-run")
    page.wait_for_selector("#kg-sc-result[data-ready='1']", timeout=60_000)
    assert page.locator("#kg-sc-summary").inner_text() == "No obligation is triggered by this event"
    # a bad date is the reasoner's 400, shown as such
    page.evaluate("document.getElementById('kg-sc-date').type = 'text'")
    page.fill("#kg-sc-date", "2021-02-30")
    page.click("#kg-sc-run")
    page.wait_for_selector("#kg-sc-result[data-ready='error']")
    assert "not a valid" in page.locator("#kg-sc-result .kg-error").inner_text()


def test_ontology_and_document_pages_load(page: Any, kb_server) -> None:
    _goto(page, f"{kb_server.url}/ontology#Obligation")
    assert page.locator("section#Obligation h3").inner_text().startswith("obligation")
    assert page.locator(".kg-term[data-kind='property']").count() > 50
    _goto(page, f"{kb_server.url}/resource/document/bandow-2021-07-10")
    page.locator("a", has_text="Read the text with its quotes highlighted").click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator(".kg-q").count() > 100
