"""The page's 3D viewer in a real headless chromium (WebGL on SwiftShader): it loads without console
errors, a click makes both bodies move on one clock, the scrubber moves both, the overlay (ghost)
toggle works, and the videos come on demand.

Screenshots go to ``test-artifacts/`` (or HMU_ARTIFACTS). Without chromium/chromedriver the tests are
skipped with the reason; CI sets HMU_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from app_helpers import REPO
from browser_helpers import browser_test_marks, sources, wait_videos
from webgl_browser import mark_clicks, severe_console, viewer_state, wait_moving, wait_viewer, webgl_chrome

from hmu_demo.motion.skeleton import NUM_JOINTS
from hmu_demo.ui.viewer import THREE_VERSION

ARTIFACTS = Path(os.environ.get("HMU_ARTIFACTS", REPO / "test-artifacts"))
PROMPT = "a man punches and then kicks"
SECONDS = 4.0

pytestmark = browser_test_marks()


@pytest.fixture(scope="module")
def page(app, tmp_path_factory):
    """The app's page in chromium, after one comparison (auto-rendered videos off, to test them on demand)."""
    from selenium.webdriver.common.by import By

    driver = webgl_chrome(tmp_path_factory.mktemp("chromium-webgl"))
    driver.set_page_load_timeout(60)
    driver.get(app.url)
    start = wait_viewer(driver)
    assert start["id"] is None and start["error"] is None, start
    auto = driver.find_element(By.CSS_SELECTOR, "#auto-videos input[type='checkbox']")
    if auto.is_selected():
        auto.click()
    length = driver.find_element(By.CSS_SELECTOR, "#seconds-slider input[type='number']")
    length.clear()
    length.send_keys(f"{SECONDS}")
    box = driver.find_element(By.CSS_SELECTOR, "#prompt-box textarea")
    box.clear()
    box.send_keys(PROMPT)
    mark_clicks(driver)
    driver.find_element(By.CSS_SELECTOR, "#compare-btn").click()
    wait_moving(driver, None)
    yield driver
    driver.quit()


def _payload(driver) -> dict:
    return driver.execute_script("return window.hmuViewer.payload()")


def _expected_pelvis(body: dict, frame: float) -> np.ndarray:
    """The pelvis where the sent joints put it at a fractional frame (linear between frames)."""
    joints = np.array(body["joints"]).reshape(-1, NUM_JOINTS, 3)[:, 0]
    frame = min(max(frame, 0.0), len(joints) - 1)
    i0 = int(np.floor(frame))
    i1, a = min(i0 + 1, len(joints) - 1), frame - i0
    return (1 - a) * joints[i0] + a * joints[i1]


def _check_bodies_at(driver, state: dict) -> None:
    """Every body shows the shared clock's frame, and its pelvis bone is where the joints say."""
    payload = _payload(driver)
    frame = state["time"] * payload["fps"]
    for body, shown in zip(payload["bodies"], state["bodies"]):
        assert shown["frame"] == pytest.approx(min(frame, body["frames"] - 1), abs=1e-6)
        expected = _expected_pelvis(body, shown["frame"]) + np.array(shown["offset"])
        assert np.abs(np.array(shown["pelvis"]) - expected).max() < 2e-3, (shown, expected)


def _set_scrubber(driver, frame: float) -> None:
    driver.execute_script(
        "const s = document.querySelector('#motion-viewer .hmu-scrub'); s.value = String(arguments[0]);"
        "s.dispatchEvent(new Event('input', {bubbles: true}));", frame)


def _pause(driver) -> None:
    from selenium.webdriver.common.by import By

    button = driver.find_element(By.CSS_SELECTOR, "#motion-viewer .hmu-play")
    if viewer_state(driver)["playing"]:
        button.click()
    assert not viewer_state(driver)["playing"] and button.text == "Play"


def test_scene_loads_with_both_bodies_and_no_console_errors(page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    state = viewer_state(page)
    assert state["error"] is None and [b["label"] for b in state["bodies"]] == ["original", "unlearned"]
    assert page.execute_script("return window.hmuViewer.three") == THREE_VERSION.split(".")[1]
    payload = _payload(page)
    assert payload["prompt"] == PROMPT and payload["frames"] == round(SECONDS * payload["fps"])
    tracks = page.execute_script("return [...document.querySelectorAll('#motion-viewer .hmu-track span')]"
                                 ".map(s => s.textContent)")
    assert len(tracks) == 2 and "violent" in tracks[0] and tracks[1].startswith("unlearned")
    assert page.execute_script("return document.querySelector('#motion-viewer .hmu-caption').textContent") \
        == f'"{PROMPT}"'
    shot = page.execute_script("return window.hmuViewer.snapshot()")
    assert shot["left"] > 200 and shot["right"] > 200, shot       # a body drawn in each half
    assert page.execute_script("return document.querySelector('#warmup-status')?.offsetParent") is None
    page.save_screenshot(str(ARTIFACTS / "viewer_side_by_side.png"))
    assert not severe_console(page)


def test_both_bodies_move_on_one_clock(page) -> None:
    page.execute_script("window.hmuViewer.play()")
    first = viewer_state(page)
    time.sleep(0.6)
    second = viewer_state(page)
    assert first["playing"] and second["renders"] > first["renders"]
    assert second["time"] != pytest.approx(first["time"], abs=1e-3)
    for state in (first, second):
        frames = [b["frame"] for b in state["bodies"]]
        assert frames[0] == pytest.approx(frames[1], abs=1e-9), "one clock for both bodies"
    _pause(page)
    _check_bodies_at(page, viewer_state(page))


def test_scrubber_moves_both_bodies(page) -> None:
    _pause(page)
    checksums = []
    for frame in (5.0, 52.5):
        _set_scrubber(page, frame)
        state = viewer_state(page)
        assert state["time"] == pytest.approx(frame / _payload(page)["fps"], abs=1e-6) and not state["playing"]
        assert all(b["frame"] == pytest.approx(frame) for b in state["bodies"])
        _check_bodies_at(page, state)
        checksums.append(page.execute_script("return window.hmuViewer.snapshot()")["checksum"])
    assert checksums[0] != checksums[1], "the picture changes with the scrubber"


def test_overlay_toggle_ghosts_the_original_on_the_unlearned(page) -> None:
    from selenium.webdriver.common.by import By

    _pause(page)
    _set_scrubber(page, 20.0)
    side = page.execute_script("return window.hmuViewer.snapshot()")
    page.find_element(By.CSS_SELECTOR, "#motion-viewer .hmu-overlay").click()
    state = viewer_state(page)
    original, unlearned = state["bodies"]
    assert state["overlay"] and original["ghost"] and original["opacity"] < 1 and not unlearned["ghost"]
    assert original["offset"][0] == pytest.approx(unlearned["offset"][0]), "same place on the floor"
    assert original["offset"][2] == pytest.approx(unlearned["offset"][2])
    _check_bodies_at(page, state)
    overlay = page.execute_script("return window.hmuViewer.snapshot()")
    assert overlay["checksum"] != side["checksum"]
    page.save_screenshot(str(ARTIFACTS / "viewer_overlay.png"))
    page.find_element(By.CSS_SELECTOR, "#motion-viewer .hmu-overlay").click()
    back = viewer_state(page)
    assert not back["overlay"] and not back["bodies"][0]["ghost"]
    assert back["bodies"][0]["offset"][0] < back["bodies"][1]["offset"][0] - 0.5, "side by side again"


def test_videos_come_on_demand(page) -> None:
    from selenium.webdriver.common.by import By

    videos = ["#composite-video", "#original-video", "#unlearned-video"]
    assert not any(sources(page, videos).values()), "auto-render is off: no video yet"
    page.find_element(By.CSS_SELECTOR, "#videos-btn").click()
    states = wait_videos(page, {}, 120, playing=["#composite-video"], ready=videos[1:])
    assert states["#composite-video"]["width"] == 2 * states["#original-video"]["width"] > 0
    deadline = time.monotonic() + 30
    def text() -> str:  # the file list shows each name's stem and extension on their own lines
        return page.find_element(By.CSS_SELECTOR, "body").text.replace("\n", "")

    while "side_by_side.mp4" not in text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(name in text() for name in ("side_by_side.mp4", "original.glb", "unlearned.glb", "original.bvh"))
    assert viewer_state(page)["id"] == _payload(page)["id"], "the viewer keeps its comparison"
    assert not severe_console(page)



def test_without_webgl_the_page_says_so_and_the_videos_play(app, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    driver = webgl_chrome(tmp_path / "chromium-no-webgl", webgl=False)
    try:
        driver.get(app.url)
        state = wait_viewer(driver)
        assert state["error"] and "WebGL" in state["error"]
        assert "needs WebGL" in driver.find_element(By.CSS_SELECTOR, "#motion-viewer .hmu-message").text
        before = sources(driver, ["#composite-video"])
        driver.find_element(By.CSS_SELECTOR, "#compare-btn").click()   # the videos render after every comparison
        wait_videos(driver, before, 120, playing=["#composite-video"])
        assert viewer_state(driver)["id"] is None and not severe_console(driver)
    finally:
        driver.quit()
