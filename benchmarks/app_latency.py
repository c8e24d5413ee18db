"""App latency through its API (and, when chromium is installed, in a real browser).

    python benchmarks/app_latency.py [--seconds 6] [--repeats 5] [--no-browser] [--json PATH]

Measures, on this machine and in one run:

* **start**: ``python app.py`` launched -> HTTP 200 (target < 20 s), and -> background warm-up done;
* **direct** (the baseline): the same comparison called on a StudioService in this process (no
  server, no HTTP), with the app's render settings;
* **api**: ``gradio_client`` ``/compare`` (cached method, a ``--seconds`` motion): call -> the three
  videos and both judge scores downloaded; its ratio to **direct** is what the server adds;
* **browser**: headless chromium: click "Generate and compare" -> the side-by-side video (both
  motions, synchronised) is playing (target < 4 s for a 6-second motion), and -> each motion's own
  video is loaded too. The browser shares this machine's cores with the server.

Prompts differ per repeat (same method, so the edit comes from the cache). Writes JSON.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
_TMP = Path(tempfile.mkdtemp(prefix="hmu_app_bench_"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
for key, value in dict(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                       PYOPENGL_PLATFORM="egl", XDG_CACHE_HOME=str(_TMP / "cache"), MPLCONFIGDIR=str(_TMP / "mpl"),
                       GRADIO_TEMP_DIR=str(_TMP / "gradio")).items():
    os.environ.setdefault(key, value)

from app_helpers import start_app  # noqa: E402
from timing import load_average, machine_busy, write_result  # noqa: E402

PROMPTS = ("a man punches and then kicks", "a person throws a right hook", "someone does a roundhouse kick",
           "a person walks forward then kicks", "a man waves and then punches", "a person punches twice")
METHOD = "lcr-gated"
START_TARGET, CLICK_TARGET = 20.0, 4.0


def _summary(times: list[float]) -> dict:
    times = sorted(times)
    return {"median": statistics.median(times), "min": times[0], "max": times[-1], "runs": [round(t, 3) for t in times]}


def direct_baseline(seconds: float, repeats: int) -> list[float]:
    """The comparison on an in-process service with the app's settings (what the server wraps)."""
    from hmu_demo.ui.server import APP_RENDER
    from hmu_demo.ui.service import ServiceConfig, StudioService

    service = StudioService(ServiceConfig(render=APP_RENDER, output_dir=_TMP / "direct"), safe_mode=False)
    try:
        service.compare("a person walks forward", method=METHOD, seconds=2.0)  # models, edit, GL, ffmpeg
        times = []
        for i in range(repeats):
            start = time.perf_counter()
            service.compare(PROMPTS[i % len(PROMPTS)], method=METHOD, seed=i, seconds=seconds)
            times.append(time.perf_counter() - start)
        return times
    finally:
        service.close()


def api_latency(url: str, seconds: float, repeats: int) -> list[float]:
    from gradio_client import Client

    client = Client(url, download_files=str(_TMP / "downloads"), verbose=False)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        out = client.predict(PROMPTS[i % len(PROMPTS)], "momask", METHOD, i, seconds, api_name="/compare")
        times.append(time.perf_counter() - start)
        assert all(Path(p).is_file() for p in out[:3]) and out[3] and out[4], out
    return times


def browser_latency(url: str, seconds: float, repeats: int) -> tuple[list[float], list[float]] | str:
    """(click -> the side-by-side video playing, click -> each motion's own video loaded too), in
    headless chromium; the reason instead when it cannot run."""
    from browser_helpers import browser_missing, chrome, sources, wait_videos

    missing = browser_missing()
    if missing:
        return missing
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    videos = ["#composite-video", "#original-video", "#unlearned-video"]
    driver = chrome(_TMP / "chromium")
    try:
        driver.get(url)
        box = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#prompt-box textarea")))
        length = driver.find_element(By.CSS_SELECTOR, "#seconds-slider input[type='number']")
        length.clear()
        length.send_keys(f"{seconds}")
        playing, all_ready = [], []
        for i in range(repeats + 1):  # the first click also loads the page's video player: not counted
            box.clear()
            box.send_keys(PROMPTS[(i + 1) % len(PROMPTS)])
            before = sources(driver, videos)
            start = time.perf_counter()
            driver.find_element(By.CSS_SELECTOR, "#compare-btn").click()
            wait_videos(driver, before, 120, playing=videos[:1])
            first = time.perf_counter() - start
            wait_videos(driver, before, 120, playing=videos[:1], ready=videos[1:])
            if i:
                playing.append(first)
                all_ready.append(time.perf_counter() - start)
            time.sleep(1.0)  # let the status line and downloads that follow each comparison arrive
        return playing, all_ready
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="motion length (default 6)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "app_latency.json")
    args = parser.parse_args()

    load_before = load_average()
    direct = direct_baseline(args.seconds, args.repeats)
    app = start_app(_TMP / "app")
    try:
        warm = app.wait_warm()
        api = api_latency(app.url, args.seconds, args.repeats)
        browser = None if args.no_browser else browser_latency(app.url, args.seconds, args.repeats)
    finally:
        app.stop()
    # The run itself keeps about three things busy: the server, chromium and this process.
    busy = machine_busy(load_before, load_average(), threads=3, advice="run again on an idle machine")

    result = {"cpus": os.cpu_count(), "motion_seconds": args.seconds, "method": METHOD, "repeats": args.repeats,
              "machine_busy": busy,
              "start": {"http_200_seconds": round(app.start_seconds, 2), "warm_seconds": round(warm, 2),
                        "target_seconds": START_TARGET},
              "direct": _summary(direct), "api": _summary(api)}
    result["api"]["ratio_vs_direct"] = round(result["api"]["median"] / result["direct"]["median"], 3)
    if isinstance(browser, tuple):
        result["browser"] = {name: _summary(times) | {"ratio_vs_direct": round(statistics.median(times)
                                                                                / result["direct"]["median"], 3)}
                             for name, times in zip(("side_by_side_playing", "all_three_loaded"), browser)}
        result["browser"]["target_seconds"] = CLICK_TARGET
    elif browser:
        result["browser"] = {"skipped": browser}
    print(f"app start: HTTP 200 after {app.start_seconds:.1f} s, warm after {warm:.1f} s (target < {START_TARGET:g} s)")
    print(f"{args.seconds:g}-second comparison, {METHOD} cached, median of {args.repeats}:")
    print(f"  direct (baseline, in process)  {result['direct']['median']:.2f} s")
    api = result["api"]
    print(f"  API /compare (gradio_client)   {api['median']:.2f} s  = {api['ratio_vs_direct']:.2f} x direct")
    if isinstance(browser, tuple):
        b = result["browser"]
        for name, what in (("side_by_side_playing", "click -> side by side plays"),
                           ("all_three_loaded", "click -> all 3 videos loaded")):
            print(f"  browser {what:24s} {b[name]['median']:.2f} s  = {b[name]['ratio_vs_direct']:.2f} x direct"
                  f" (target < {CLICK_TARGET:g} s)")
    elif browser:
        print(f"  browser: skipped ({browser})")
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
