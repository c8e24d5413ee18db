"""App latency: click -> moving 3D bodies and click -> MP4, both backbones, against generation time.

    python benchmarks/app_latency.py [--seconds 6] [--repeats 5] [--backbones momask,bamm] [--no-browser]
        [--json PATH]

Measures, on this machine and in one run (same method, the page's default, so every edit but the
first comes from the cache; prompts differ per repeat):

* **start**: ``python app.py`` launched -> HTTP 200, -> the warm-up made comparisons ready (the page
  says "warming up" until then), -> warm-up done (renderer and encoder too); and **first request**:
  a ``/compare_motion`` sent the moment HTTP 200 came, which may wait only for the warm-up's remainder;
* **generation** (the baseline, per backbone): both motions generated and judged on a StudioService
  in this process (no files, no server, no HTTP); **direct_videos**: the same with the app's MP4s;
* **api** (per backbone): ``gradio_client`` ``/compare_motion`` (the viewer's JSON and both judges)
  and ``/compare`` (the three videos downloaded);
* **browser** (per backbone, when chromium is installed): headless chromium with WebGL (SwiftShader),
  click "Generate and compare" -> both bodies moving in the 3D viewer (target < 1 s and <= 3x
  generation), and -> the side-by-side MP4 playing (rendered after the viewer, as the page does).
  In-page times (``performance.now()`` from the click) are reported next to the wall times. The
  browser, which draws WebGL on the CPU here, shares this machine's cores with the server.

Every latency is also given as a ratio to the generation time of the same backbone in this run.
Writes JSON (default benchmarks/results/app_latency.json).
"""

from __future__ import annotations

import argparse
import atexit
import json
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

from hmu_demo.ui.handlers import DEFAULT_METHOD  # noqa: E402

PROMPTS = ("a man punches and then kicks", "a person throws a right hook", "someone does a roundhouse kick",
           "a person walks forward then kicks", "a man waves and then punches", "a person punches twice")
METHOD = DEFAULT_METHOD
START_TARGET, MOVING_TARGET, MOVING_RATIO_TARGET = 20.0, 1.0, 3.0
READY_LINE = "warm-up: comparisons ready"


def _summary(times: list[float]) -> dict:
    times = sorted(times)
    return {"median": round(statistics.median(times), 3), "min": round(times[0], 3), "max": round(times[-1], 3),
            "runs": [round(t, 3) for t in times]}


def _with_ratio(summary: dict, baseline: float) -> dict:
    return summary | {"ratio_vs_generation": round(summary["median"] / baseline, 2)}


def direct(seconds: float, repeats: int, backbones: list[str]) -> dict[str, dict[str, list[float]]]:
    """Per backbone: generation (both motions generated and judged, in process) and the same with the MP4s."""
    from hmu_demo.ui.server import APP_RENDER
    from hmu_demo.ui.service import ServiceConfig, StudioService

    service = StudioService(ServiceConfig(render=APP_RENDER, output_dir=_TMP / "direct"), safe_mode=False)
    out: dict[str, dict[str, list[float]]] = {}
    try:
        service.compare("a person walks forward", method=METHOD, seconds=2.0)  # models, edit, GL, ffmpeg
        for backbone in backbones:
            service.compare("a person walks forward", backbone, METHOD, seconds=2.0, render=False)
            generation, videos = [], []
            for i in range(repeats):
                prompt = PROMPTS[i % len(PROMPTS)]
                start = time.perf_counter()
                service.compare(prompt, backbone, METHOD, seed=i, seconds=seconds, render=False)
                generation.append(time.perf_counter() - start)
                start = time.perf_counter()
                service.compare(prompt, backbone, METHOD, seed=i, seconds=seconds)
                videos.append(time.perf_counter() - start)
            out[backbone] = {"generation": generation, "direct_videos": videos}
        return out
    finally:
        service.close()


def first_request(url: str) -> float:
    """Seconds a /compare_motion sent at HTTP 200 took (it waits for the warm-up's first step)."""
    from gradio_client import Client

    start = time.perf_counter()
    client = Client(url, download_files=False, verbose=False)
    client.predict(PROMPTS[0], "momask", METHOD, 0, 2.0, api_name="/compare_motion")
    return time.perf_counter() - start


def api_latency(url: str, seconds: float, repeats: int, backbone: str) -> dict[str, list[float]]:
    from gradio_client import Client

    client = Client(url, download_files=str(_TMP / "downloads"), verbose=False)
    motion, videos, server = [], [], []
    for i in range(repeats):
        prompt = PROMPTS[(i + 2) % len(PROMPTS)]
        start = time.perf_counter()
        text, _, judge = client.predict(prompt, backbone, METHOD, i, seconds, api_name="/compare_motion")
        motion.append(time.perf_counter() - start)
        assert text.startswith("{") and judge, judge
        server.append(_generation(json.loads(text)["timings"]))
        start = time.perf_counter()
        out = client.predict(prompt, backbone, METHOD, i, seconds, api_name="/compare")
        videos.append(time.perf_counter() - start)
        assert all(Path(p).is_file() for p in out[:3]) and out[3] and out[4], out
    return {"compare_motion": motion, "compare": videos, "server_generation": server}


def browser_latency(url: str, seconds: float, repeats: int, backbones: list[str]) -> dict | str:
    """Per backbone: click -> bodies moving and click -> side-by-side MP4 playing (wall and in-page)."""
    from browser_helpers import browser_missing, sources, wait_videos
    from selenium.webdriver.common.by import By
    from webgl_browser import click_to_moving_ms, mark_clicks, viewer_state, wait_moving, wait_viewer, webgl_chrome

    missing = browser_missing()
    if missing:
        return missing
    driver = webgl_chrome(_TMP / "chromium")
    results: dict[str, dict[str, list[float]]] = {}
    try:
        driver.get(url)
        wait_viewer(driver)
        if not driver.find_element(By.CSS_SELECTOR, "#auto-videos input[type='checkbox']").is_selected():
            raise RuntimeError("the page's 'render the videos after every comparison' box is off")
        length = driver.find_element(By.CSS_SELECTOR, "#seconds-slider input[type='number']")
        length.clear()
        length.send_keys(f"{seconds}")
        box = driver.find_element(By.CSS_SELECTOR, "#prompt-box textarea")
        mark_clicks(driver)
        for backbone in backbones:
            driver.find_element(By.CSS_SELECTOR, f"#backbone-radio input[value='{backbone}']").click()
            times: dict[str, list[float]] = {"moving": [], "moving_in_page": [], "mp4_playing": [],
                                             "server_generation": []}
            for i in range(repeats + 1):  # the first click of a backbone is not counted (player, caches)
                box.clear()
                box.send_keys(PROMPTS[(i + 1) % len(PROMPTS)])
                before_video = sources(driver, ["#composite-video"])
                before_id = (viewer_state(driver) or {}).get("id")
                start = time.perf_counter()
                driver.find_element(By.CSS_SELECTOR, "#compare-btn").click()
                state = wait_moving(driver, before_id)
                moving = time.perf_counter() - start
                in_page = click_to_moving_ms(driver) / 1000
                wait_videos(driver, before_video, 180, playing=["#composite-video"])
                mp4 = time.perf_counter() - start
                assert len(state["bodies"]) == 2 and state["error"] is None, state
                if i:
                    timings = driver.execute_script("return window.hmuViewer.payload().timings")
                    times["server_generation"].append(_generation(timings))
                    times["moving"].append(moving)
                    times["moving_in_page"].append(in_page)
                    times["mp4_playing"].append(mp4)
                time.sleep(1.0)  # the status line and downloads that follow each comparison arrive
            results[backbone] = times
        return results
    finally:
        driver.quit()


def _generation(timings: dict) -> float:
    """Generation + judging seconds the server reported for the very request (the payload's timings)."""
    return float(timings["generation"]) + float(timings["judging"])


def _same_request_ratio(times: list[float], generation: list[float]) -> float:
    """Median over requests of latency / that request's own generation time (robust to load drifting)."""
    return round(statistics.median(t / g for t, g in zip(times, generation)), 2)


def _ready_after(app) -> float | None:
    """Seconds from launch to the warm-up's "comparisons ready" line (from the log's timestamps)."""
    import datetime as dt

    text = app.log_text()
    lines = [line for line in text.splitlines() if READY_LINE in line or "HMU Studio on" in line]
    stamps = {}
    for line in lines:
        try:
            stamps["ready" if READY_LINE in line else "http"] = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            continue
    if "ready" not in stamps or "http" not in stamps:
        return None
    return (stamps["ready"] - stamps["http"]).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="motion length (default 6)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backbones", default="momask,bamm", help="comma-separated (default momask,bamm)")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "app_latency.json")
    args = parser.parse_args()
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    if not backbones or any(b not in ("momask", "bamm") for b in backbones) or args.repeats < 1:
        print("error: --backbones takes momask and/or bamm, --repeats at least 1", file=sys.stderr)
        return 2

    load_before = load_average()
    baseline = direct(args.seconds, args.repeats, backbones)
    app = start_app(_TMP / "app")
    try:
        first = first_request(app.url)
        warm = app.wait_warm()
        api = {b: api_latency(app.url, args.seconds, args.repeats, b) for b in backbones}
        browser = None if args.no_browser else browser_latency(app.url, args.seconds, args.repeats, backbones)
    finally:
        app.stop()
    busy = machine_busy(load_before, load_average(), threads=3, advice="run again on an idle machine")

    ready = _ready_after(app)
    result: dict = {"cpus": os.cpu_count(), "motion_seconds": args.seconds, "method": METHOD, "repeats": args.repeats,
                    "load_average_before": round(load_before, 2), "machine_busy": busy,
                    "start": {"http_200_seconds": round(app.start_seconds, 2), "warm_seconds": round(warm, 2),
                              "comparisons_ready_after_http_seconds": ready, "target_seconds": START_TARGET,
                              "first_request_at_http_200_seconds": round(first, 2)},
                    "backbones": {}}
    print(f"app start: HTTP 200 after {app.start_seconds:.1f} s, comparisons ready {ready} s later, warm after "
          f"{warm:.1f} s; a comparison sent at HTTP 200 took {first:.2f} s")
    print(f"{args.seconds:g}-second comparison, {METHOD} (cached edit), median of {args.repeats}"
          f" (1-min load average before: {load_before:.2f}):")
    for b in backbones:
        gen = statistics.median(baseline[b]["generation"])
        row = {"generation": _summary(baseline[b]["generation"]),
               "direct_videos": _with_ratio(_summary(baseline[b]["direct_videos"]), gen),
               "api_compare_motion": _with_ratio(_summary(api[b]["compare_motion"]), gen),
               "api_compare": _with_ratio(_summary(api[b]["compare"]), gen),
               "server_generation_api": _summary(api[b]["server_generation"])}
        row["api_compare_motion"]["ratio_vs_same_request_generation"] = _same_request_ratio(
            api[b]["compare_motion"], api[b]["server_generation"])
        lines = [("generation, both motions + judge (baseline)", row["generation"]),
                 ("in process with the MP4s", row["direct_videos"]),
                 ("API /compare_motion (viewer JSON)", row["api_compare_motion"]),
                 ("API /compare (3 videos)", row["api_compare"])]
        if isinstance(browser, dict):
            served = browser[b]["server_generation"]
            row["server_generation_browser"] = _summary(served)
            for key, name in (("moving", "browser click -> bodies moving"),
                              ("moving_in_page", "  (in-page clock)"), ("mp4_playing", "browser click -> MP4 playing")):
                row[f"browser_{key}"] = _with_ratio(_summary(browser[b][key]), gen)
                row[f"browser_{key}"]["ratio_vs_same_request_generation"] = _same_request_ratio(browser[b][key], served)
                lines.append((name, row[f"browser_{key}"]))
            row["browser_moving"]["target"] = {"seconds": MOVING_TARGET, "ratio_vs_generation": MOVING_RATIO_TARGET}
        result["backbones"][b] = row
        print(f" {b}:")
        for name, summary in lines:
            ratio = f" = {summary['ratio_vs_generation']:.2f} x generation" if "ratio_vs_generation" in summary else ""
            if "ratio_vs_same_request_generation" in summary:
                ratio += f" ({summary['ratio_vs_same_request_generation']:.2f} x the request's own)"
            print(f"   {name:44s} {summary['median']:.2f} s{ratio}")
        if isinstance(browser, dict):
            print(f"   {'generation inside the clicked requests':44s} {row['server_generation_browser']['median']:.2f} s")
    if isinstance(browser, str):
        result["browser"] = {"skipped": browser}
        print(f" browser: skipped ({browser})")
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
