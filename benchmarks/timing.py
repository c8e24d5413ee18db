"""Timing helpers shared by the benchmark scripts (imported as ``timing``: scripts run from this folder)."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def load_average() -> float:
    """1-minute load average (NaN where the OS has none): a busy machine makes every figure too slow."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], object]) -> float:
    """Median wall time of ``repeats`` calls of ``fn``, with ``sync`` (e.g. CUDA synchronise) around each."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_busy(before: float, after: float, threads: int, advice: str = "compare with --threads 1") -> bool:
    """Whether other processes competed for the cores during a run (the run's own threads count in
    ``after``); prints a warning then, since every figure is too slow."""
    busy = before > 0.75 or after > threads + 0.75
    if busy:
        print(f"warning: the machine was busy (1-min load average {before:.2f} before, {after:.2f} after "
              f"including this run): other processes competed for the cores, so these figures are too slow; {advice}")
    return busy


def machine_record(device: str, threads: int) -> dict:
    """Where a figure was measured, written at the top of every result file."""
    import platform

    import torch

    return {"device": device, "threads": threads, "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__}


def rounded(rows: dict) -> dict:
    """Result rows with floats rounded to 3 decimals (readable JSON, no false precision)."""
    return {k: {f: (round(v, 3) if isinstance(v, float) else v) for f, v in row.items()} for k, row in rows.items()}


def write_result(path, result: dict) -> None:
    """Write a result file (JSON, creating its folder) and say where."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def add_speed_arguments(parser: argparse.ArgumentParser, quick_help: str, json_help: str) -> None:
    """The options every generation-speed script takes: threads, device, a smoke-test switch, where to write."""
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", type=Path, default=None, help=json_help)


def start_speed_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Callable[[], object]:
    """Apply ``add_speed_arguments``' options (refusing CUDA where there is none); returns the device's sync."""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    torch.set_num_threads(args.threads)
    return torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
