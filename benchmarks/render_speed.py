"""Render speed: default body, stick figure (baseline) and side-by-side, to MP4, on this machine.

    python benchmarks/render_speed.py [--frames 196] [--size 512] [--repeats 1] [--json PATH]

Prints absolute seconds, ms per frame, real-time factor (clip length / render time) and the ratio
to the stick figure measured in the same run. Targets (2 CPU cores, Mesa llvmpipe): 196 frames at
512x512 under 5 s for one body, under 10 s side by side. Writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
_TMP = Path(tempfile.mkdtemp(prefix="hmu_render_bench_"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ.setdefault("XDG_CACHE_HOME", str(_TMP / "cache"))
os.environ.setdefault("MPLCONFIGDIR", str(_TMP / "mpl"))

from render_helpers import walk_joints  # noqa: E402
from timing import write_result  # noqa: E402  (FK walking cycle on skeleton.REST_OFFSETS)

from hmu_demo.render import api  # noqa: E402
from hmu_demo.render.config import RenderConfig  # noqa: E402
from hmu_demo.render.video import probe  # noqa: E402


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1, help="best of N (default 1: the machine is shared)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "render_speed.json")
    args = parser.parse_args()

    fps = 20
    left = walk_joints(args.frames)
    right = walk_joints(max(2, int(args.frames * 0.8)), turn=-0.8)
    out = _TMP
    size = dict(width=args.size, height=args.size)

    start = time.perf_counter()
    api.render_video(left[:2], out / "warmup.mp4", RenderConfig(body="skeleton", **size))
    first_call = time.perf_counter() - start

    cases = {
        "skeleton": lambda: api.render_video(left, out / "skeleton.mp4", RenderConfig(body="skeleton", **size)),
        "default": lambda: api.render_video(left, out / "default.mp4", RenderConfig(body="default", **size)),
        "side_by_side_default": lambda: api.render_side_by_side(left, right, out / "pair.mp4",
                                                                RenderConfig(body="default", **size)),
    }
    seconds = {name: timed(fn, args.repeats) for name, fn in cases.items()}
    base = seconds["skeleton"]
    clip = args.frames / fps
    rows = {}
    print(f"{args.frames} frames at {args.size}x{args.size}, {fps} fps ({clip:.1f} s of motion); "
          f"{os.cpu_count()} CPUs; first call (imports + GL context) {first_call:.2f} s")
    print(f"{'case':24s} {'seconds':>8s} {'ms/frame':>9s} {'x realtime':>10s} {'vs skeleton':>12s}")
    for name, sec in seconds.items():
        rows[name] = dict(seconds=round(sec, 3), ms_per_frame=round(1000 * sec / args.frames, 2),
                          realtime_factor=round(clip / sec, 2), ratio_vs_skeleton=round(sec / base, 2))
        print(f"{name:24s} {sec:8.2f} {1000 * sec / args.frames:9.1f} {clip / sec:10.2f} {sec / base:12.2f}")
    pair = probe(out / "pair.mp4")
    assert pair.frames == args.frames and pair.codec == "h264", pair
    result = dict(frames=args.frames, size=args.size, fps=fps, cpus=os.cpu_count(), machine=platform.machine(),
                  python=platform.python_version(), first_call_seconds=round(first_call, 3), cases=rows,
                  targets=dict(default=5.0, side_by_side_default=10.0))
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
