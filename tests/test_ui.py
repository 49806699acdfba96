"""The web UI in a real browser: Playwright driving Debian's Chromium headless (installed here
with apt-get when missing; never a downloaded browser). Ask, follow a cited span to its note,
give feedback, see the weight change, undo it; a screenshot per step in test-artifacts/ui/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from overlay import Overlay, Settings
from tests.server_helpers import live_server

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("OVERLAY_ARTIFACTS", ROOT / "test-artifacts")) / "ui"

pytestmark = pytest.mark.browser


def _install_chromium() -> str | None:
    """Debian's Chromium, installed with apt-get if it is not there; None says why not."""
    if shutil.which("chromium"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "Chromium is not installed and apt-get needs root here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} took over 10 minutes"
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None if shutil.which("chromium") else "apt-get ran but no chromium on PATH"


@pytest.fixture(scope="module")
def chromium() -> str:
    why = _install_chromium()
    if why:
        print(f"browser tests skipped: {why}")
        pytest.skip(f"Chromium cannot be installed: {why}")
    return str(shutil.which("chromium"))


@pytest.fixture(scope="module")
def ui_overlay(tmp_path_factory: pytest.TempPathFactory, smol: object) -> Iterator[Overlay]:
    db = tmp_path_factory.mktemp("ui") / "o.db"
    ov = Overlay(settings=Settings.make(db=db, retrieve={"embedder": "hashing"}))
    ov.ingest([ROOT / "examples" / "vault"])
    ov.lm = smol  # type: ignore[assignment]
    yield ov
    ov.close()


def _open(pw: Any, chromium: str, errors: list[str]) -> tuple[Any, Any]:
    """Headless Chromium and a page whose script errors land in `errors`. Every wait is for
    an event (an element shown, a text changed) with a minute's cap, not Playwright's five
    seconds, which a busy machine can pass."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                 args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(60_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return browser, page


def _graph_drawn(page: Any, expected: int) -> dict[str, int]:
    """Wait until the page's Cytoscape graph holds `expected` nodes and has been painted;
    its node count and how many of its canvas pixels carry ink."""
    page.wait_for_function(
        "n => { const c = document.querySelector('#graph');"
        " return c && c._cyreg && c._cyreg.cy && c._cyreg.cy.nodes().length === n; }",
        arg=expected, timeout=30_000)
    page.wait_for_timeout(300)  # one animation frame or so for the paint
    found: dict[str, int] = page.evaluate(
        """() => {
          const c = document.querySelector('#graph');
          let inked = 0;
          for (const canvas of c.querySelectorAll('canvas')) {
            const ctx = canvas.getContext('2d');
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
          }
          return {nodes: c._cyreg.cy.nodes().length, inked};
        }""")
    return found


def test_ask_cite_feedback_weight_undo(chromium: str, ui_overlay: Overlay) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with live_server(ui_overlay) as url, sync_playwright() as pw:
        browser, page = _open(pw, chromium, errors)

        page.goto(url + "/")
        page.fill("#question", "How do I keep a sourdough starter alive?")
        page.click("#ask")
        cited = page.locator("#answer a.cited").first
        expect(cited).to_be_visible(timeout=60_000)
        expect(page.locator("#candidates tbody tr")).not_to_have_count(0)
        page.screenshot(path=str(SHOTS / "1-ask.png"), full_page=True)

        node = cited.get_attribute("data-node")
        assert node
        cited.click()
        expect(page.locator("#node-title")).to_be_visible()
        expect(page.locator("#weights")).to_have_text("no feedback yet")
        expect(page.locator("#graph canvas").first).to_be_attached()
        page.screenshot(path=str(SHOTS / "2-node.png"), full_page=True)

        page.go_back()
        page.click("#good")
        expect(page.locator("#feedback-status")).to_contain_text("counted toward")
        page.screenshot(path=str(SHOTS / "3-feedback.png"), full_page=True)

        # a bad answer elsewhere: the goal is not always reached, so the node that helped
        # carries positive bits (one good verdict alone tells nothing: 0 bits)
        for question in ("What is hooch?", "Why does bread go stale?", "What is a banneton?"):
            other = ui_overlay.ask(question)
            if node not in other.cited and not any(c.node_id == node for c in other.chosen):
                ui_overlay.feedback(other.id, "bad")
                break
        else:
            raise AssertionError("every question cited the node")
        page.locator(f"#answer a.cited[data-node='{node}']").first.click()
        row = page.locator("#weights tr[data-goal='answer'] td")
        expect(row.nth(1)).to_have_text("1")
        expect(row.nth(3)).to_have_text("0.500")  # p0: one episode of two reached the goal
        assert float(row.nth(5).inner_text()) > 0, row.nth(5).inner_text()
        drawn = _graph_drawn(page, len(httpx.get(f"{url}/v1/nodes/{node}/graph").json()["nodes"]))
        assert drawn["nodes"] >= 2 and drawn["inked"] > 200, drawn
        page.screenshot(path=str(SHOTS / "4-weight.png"), full_page=True)

        page.locator("#node-history button[data-undo]").first.click()
        expect(page.locator("#weights")).to_have_text("no feedback yet")
        expect(page.locator("#node-history")).to_contain_text("undone")
        page.screenshot(path=str(SHOTS / "5-undone.png"), full_page=True)

        page.goto(url + "/#/history")
        stamp = page.locator("#history tbody tr td").nth(3).inner_text()
        assert not re.search(r"T\d\d:|\.\d{4,}|\+00:00", stamp), stamp  # local, to the second

        page.goto(url + "/#/")
        page.fill("#question", "What does the float test tell me?")
        page.select_option("#mode", "compose")
        page.click("#ask")
        page.wait_for_function(  # the answer shows while it is still being written
            "() => document.querySelector('#answer') && document.querySelector('#ask').disabled",
            timeout=60_000)
        expect(page.locator("#ask")).to_be_enabled(timeout=120_000)
        expect(page.locator("#answer .span").first).to_be_attached()
        assert "float" in page.locator("#answer").inner_text().lower() or \
            page.locator("#candidates tbody tr").count() > 0
        page.screenshot(path=str(SHOTS / "6-compose.png"), full_page=True)
        browser.close()
    assert errors == []
    assert ui_overlay.weights(node) == []


def test_memories_filtered_by_speaker_and_date(chromium: str, tmp_path: Path) -> None:
    """Search and ask keep to a speaker and to dates from the page; a cited turn shows who
    said it, when and in which session."""
    from playwright.sync_api import expect, sync_playwright

    ov = Overlay(settings=Settings.make(db=tmp_path / "o.db", retrieve={"embedder": "hashing"},
                                        lm={"model": "fake"}))
    folder = tmp_path / "memories"
    shutil.copytree(ROOT / "examples" / "memories", folder)
    ov.ingest([folder])
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with ov, live_server(ov) as url, sync_playwright() as pw:
        browser, page = _open(pw, chromium, errors)
        page.goto(url + "/#/search")
        page.fill("#search-q", "croissants")
        page.fill("#speaker", "Boris")
        page.keyboard.press("Enter")
        where = page.locator("#hits .where")
        expect(where.first).to_contain_text("Boris")
        assert all("Boris" in w for w in where.all_inner_texts())
        page.screenshot(path=str(SHOTS / "7-memories-search.png"), full_page=True)

        page.goto(url + "/#/")
        page.fill("#question", "Who did Anna hire as a second baker?")
        page.fill("#since", "2024-06")
        page.fill("#until", "2024-06")
        page.click("#ask")
        expect(page.locator("#citations li").first).to_contain_text(
            "Anna, 2024-06-20 07:30, Session 3", timeout=60_000)
        page.screenshot(path=str(SHOTS / "8-memories-ask.png"), full_page=True)
        browser.close()
    assert errors == []
