"""The load test in its bounded CI form: a fresh ``python app.py`` (default configuration) on loopback,
16 concurrent clients, each with its own session, sending 2 mixed requests (generate, compare, live
unlearning, inspect, code playback) at once. Every request must succeed, the run must end inside its
time bound, and the server's memory after the run must stay within 10 % of its memory after the
warm-up. The full run (16 x 10, capacity) is ``benchmarks/load_test.py``; this uses its runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from app_helpers import start_app  # noqa: E402
from load_test import QUICK_SECONDS, RSS_LIMIT, run_load  # noqa: E402

from hmu_demo.config import EMBEDDED_DIR  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")]

CLIENTS, REQUESTS = 16, 2
TIME_BOUND = 240.0  # 32 requests of 2-3 s motions take 35-60 s on two cores


def test_sixteen_concurrent_clients_all_served_without_memory_growth(tmp_path) -> None:
    app = start_app(tmp_path / "app")
    try:
        app.wait_warm()
        result = run_load(app, CLIENTS, REQUESTS, time_bound=TIME_BOUND, request_timeout=TIME_BOUND,
                          seconds=QUICK_SECONDS, baseline_repeats=0, download_dir=tmp_path / "downloads",
                          verbose=False)
    finally:
        app.stop()
    overall = result["overall"]
    failures = [r for r in result["records"] if r["status"] != "ok"]
    assert overall["requests"] == CLIENTS * REQUESTS
    assert overall["ok"] == overall["requests"], failures[:5]
    assert result["memory"]["ratio"] <= RSS_LIMIT, result["memory"]
    assert not result["server_log_problems"], result["server_log_problems"]
    assert overall["p50"] is not None and overall["p95"] >= overall["p50"]
