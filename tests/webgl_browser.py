"""Headless Debian chromium with WebGL (SwiftShader, the CPU implementation), for the 3D viewer's tests
and the latency benchmark; and helpers that read the viewer's state (``window.hmuViewer``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from browser_helpers import CHROMIUM_NAMES

#: Headless chromium has no GPU here: WebGL runs on SwiftShader through ANGLE.
WEBGL_FLAGS = ("--headless=new", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist")


def webgl_chrome(profile: Path, width: int = 1400, height: int = 1300, webgl: bool = True):
    """A headless chromium with WebGL (``webgl`` False: with every 3D API switched off), autoplay allowed,
    a fresh profile and the console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n))
    for flag in (*(WEBGL_FLAGS if webgl else ("--headless=new", "--disable-3d-apis")), "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def viewer_state(driver) -> dict | None:
    return driver.execute_script("return window.hmuViewer ? window.hmuViewer.state() : null")


def wait_viewer(driver, timeout: float = 60.0) -> dict:
    """Wait until the page's viewer module has started (three.js imported, WebGL context made)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = viewer_state(driver)
        if state is not None:
            return state
        time.sleep(0.05)
    raise TimeoutError(f"the 3D viewer did not start within {timeout} s")


def mark_clicks(driver, selector: str = "#compare-btn") -> None:
    """Record the in-page time of every click on ``selector`` as ``window.hmuClickAt``."""
    driver.execute_script(
        "const b = document.querySelector(arguments[0]);"
        "if (!b.dataset.hmuTimed) { b.dataset.hmuTimed = '1';"
        "  b.addEventListener('click', () => { window.hmuClickAt = performance.now(); }, {capture: true}); }",
        selector)


def wait_moving(driver, before_id: str | None, timeout: float = 120.0) -> dict:
    """Wait until a new comparison (id other than ``before_id``) is loaded and its bodies have moved
    (two frames drawn at a later time); returns the state."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = viewer_state(driver)
        if state and state["id"] and state["id"] != before_id and state["movingAt"]:
            return state
        time.sleep(0.02)
    raise TimeoutError(f"the bodies did not move within {timeout} s: {state}")


def click_to_moving_ms(driver) -> float:
    """In-page milliseconds from the last marked click to the bodies moving."""
    return driver.execute_script("return window.hmuViewer.state().movingAt - window.hmuClickAt")


def severe_console(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
