"""Headless Debian chromium through chromedriver (selenium), for the end-to-end test and benchmark.

Selenium is pointed at the system chromium and chromedriver, so Selenium Manager never tries to
download a driver (there is no internet here).
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser")
#: Set by CI: a missing browser is then a failure, not a skip.
REQUIRE_ENV = "HMU_REQUIRE_BROWSER"


def browser_missing() -> str | None:
    """Why the browser test cannot run here (None when it can)."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    if not any(shutil.which(n) for n in CHROMIUM_NAMES):
        return "Debian's chromium is not installed (apt-get install -y chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install -y chromium-driver)"
    return None


def browser_test_marks() -> list:
    """The marks of a browser test module: slow, e2e, skipped without chromium or the embedded bundle; with
    HMU_REQUIRE_BROWSER=1 (CI) a missing browser fails the module instead of skipping it."""
    import os

    import pytest

    from hmu_demo.config import EMBEDDED_DIR

    missing = browser_missing()
    if missing and os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the browser test cannot run: {missing}", pytrace=False)
    return [pytest.mark.slow, pytest.mark.e2e, pytest.mark.skipif(missing is not None, reason=str(missing)),
            pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")]


def chrome(profile: Path, width: int = 1400, height: int = 1300):
    """A headless chromium with autoplay allowed and a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n))
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


VIDEO_STATE_JS = """
const v = document.querySelector(arguments[0] + ' video');
if (!v) return null;
return {src: v.currentSrc || v.src || '', ready: v.readyState, paused: v.paused, time: v.currentTime,
        error: v.error ? v.error.code : null, width: v.videoWidth, height: v.videoHeight};
"""


def video_state(driver, selector: str) -> dict | None:
    return driver.execute_script(VIDEO_STATE_JS, selector)


def _new(state: dict | None, before: str | None) -> bool:
    return bool(state and state["src"] and state["src"] != before and state["error"] is None)


def wait_videos(driver, before: dict[str, str], timeout: float, playing: list[str] = (),
                ready: list[str] = ()) -> dict[str, dict]:
    """Wait until the ``playing`` videos have a new source and are advancing, and the ``ready`` ones
    have a new source with its first frame decoded; returns their states."""
    deadline = time.monotonic() + timeout
    states: dict[str, dict | None] = {}
    while time.monotonic() < deadline:
        states = {s: video_state(driver, s) for s in (*playing, *ready)}
        if (all(_new(states[s], before.get(s)) and states[s]["ready"] >= 3
                and (not states[s]["paused"] or states[s]["time"] > 0) for s in playing)
                and all(_new(states[s], before.get(s)) and states[s]["ready"] >= 2 for s in ready)):
            return states  # type: ignore[return-value]
        time.sleep(0.05)
    raise TimeoutError(f"videos not ready after {timeout} s: {states}")


def sources(driver, selectors: list[str]) -> dict[str, str]:
    return {s: (video_state(driver, s) or {}).get("src", "") for s in selectors}
