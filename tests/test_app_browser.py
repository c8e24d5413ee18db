"""End to end in a real headless chromium: type a prompt, click, the side-by-side video plays and each
motion's own video loads, open the inspector, click a code and its motion plays.

Screenshots go to ``test-artifacts/`` (or HMU_ARTIFACTS). Without chromium/chromedriver the test is
skipped with the reason; CI sets HMU_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from app_helpers import REPO
from browser_helpers import browser_test_marks, chrome, sources, video_state, wait_videos

from hmu_demo.ui.handlers import DEFAULT_METHOD

ARTIFACTS = Path(os.environ.get("HMU_ARTIFACTS", REPO / "test-artifacts"))
PROMPT = "a man punches and then kicks"
VIDEOS = ["#composite-video", "#original-video", "#unlearned-video"]

pytestmark = browser_test_marks()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, selector: str, timeout: float = 60.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def _tab(driver, name: str) -> None:
    from selenium.webdriver.common.by import By

    buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']") if b.text.strip() == name]
    assert buttons, f"no tab {name!r}"
    buttons[0].click()


def test_prompt_click_both_videos_play_then_inspector(app, browser) -> None:
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.get(app.url)
    box = _wait(browser, "#prompt-box textarea")
    box.clear()
    box.send_keys(PROMPT)
    before = sources(browser, VIDEOS)
    start = time.perf_counter()
    browser.find_element(By.CSS_SELECTOR, "#compare-btn").click()
    wait_videos(browser, before, 120, playing=["#composite-video"])
    click_to_play = time.perf_counter() - start
    states = wait_videos(browser, before, 60, playing=["#composite-video"], ready=VIDEOS[1:])
    assert states["#composite-video"]["width"] == 2 * states["#original-video"]["width"] > 0
    deadline = time.monotonic() + 60
    while "generation" not in browser.find_element(By.CSS_SELECTOR, "#status").text and time.monotonic() < deadline:
        time.sleep(0.1)
    status = browser.find_element(By.CSS_SELECTOR, "#status").text
    assert DEFAULT_METHOD in status and "generation" in status, status
    labels = browser.find_element(By.TAG_NAME, "body").text
    assert "violent" in labels and "safe" in labels
    browser.save_screenshot(str(ARTIFACTS / "main_view.png"))
    print(f"click to the side-by-side video playing: {click_to_play:.2f} s")

    _tab(browser, "Codebook inspector")
    _wait(browser, "#codebook-map .js-plotly-plot")
    _wait(browser, "#timeline-unlearned .js-plotly-plot")
    points, deadline = 0, time.monotonic() + 30
    while points < 64 and time.monotonic() < deadline:
        points = browser.execute_script(
            "const p = document.querySelector('#codebook-map .js-plotly-plot');"
            "return p && p._fullData ? p._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0) : 0;") or 0
        time.sleep(0.2)
    assert points >= 64, "every codebook entry is on the map"
    # Clicking a code plays it: the same bridge the plotly click uses (set the code, press play).
    code_before = sources(browser, ["#code-video"])
    browser.execute_script(
        "const p = document.querySelector('#codebook-map .js-plotly-plot');"
        "const trace = p._fullData.find(t => t.customdata && t.customdata.length);"
        "p.emit('plotly_click', {points: [{customdata: trace.customdata[0]}]});")
    wait_videos(browser, code_before, 60, playing=["#code-video"])
    assert video_state(browser, "#code-video")["error"] is None
    browser.save_screenshot(str(ARTIFACTS / "inspector.png"))
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
