"""Judge throughput: scoring generated clips on the CPU, against its own feature step.

    python benchmarks/judge_speed.py [--clips 24] [--repeats 5] [--threads 1] [--json PATH] [--quick]

Times ``Judge.score`` on ``--clips`` SynthMotion clips (never seen in training), as the benchmark and
the app call it, and prints clips per second and the real-time factor (seconds of motion judged per
second). Baseline measured in the same run: ``body_features`` on the same padded batch, the pure tensor
step the judge runs before its network; ``ratio_vs_features`` is what the network and the per-clip
results add on top, and stays comparable across machines where the absolute figures do not. Reference
(one thread, 2-core runner): faster than 50 clips per second. Writes benchmarks/results/judge_speed.json
(nothing with ``--quick``, which uses 1 repeat).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from timing import load_average, machine_busy, machine_record, median_seconds, rounded, write_result  # noqa: E402

from hmu_demo.data.synth.compose import generate_clip  # noqa: E402
from hmu_demo.models.judge.features import body_features, pad_batch  # noqa: E402
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT, Judge  # noqa: E402
from hmu_demo.motion.skeleton import FPS  # noqa: E402

SEED = 4242  # not the shipped corpus's seed
REFERENCE_CLIPS_PER_SECOND = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the tests run)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "judge_speed.json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.clips < 1 or args.repeats < 1 or args.threads < 1:
        print("error: --clips, --repeats and --threads must be at least 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    before = load_average()

    judge = Judge.load(DEFAULT_CHECKPOINT)
    clips = [generate_clip(SEED, i, 0.5).joints for i in range(args.clips)]
    joints, lengths = pad_batch(clips)
    motion_seconds = float(lengths.sum()) / FPS

    def score() -> object:
        return judge.score(clips)

    def features() -> object:
        return body_features(joints, lengths)

    score()  # warm-up: first calls allocate and pick kernels
    features()
    seconds = {"score": median_seconds(score, repeats, lambda: None),
               "features": median_seconds(features, repeats, lambda: None)}
    base = seconds["features"]
    rows = {name: {"seconds": sec, "clips_per_second": args.clips / sec, "realtime_factor": motion_seconds / sec,
                   "ratio_vs_features": sec / base} for name, sec in seconds.items()}

    print(f"{args.clips} clips ({motion_seconds:.1f} s of motion at {FPS} fps), {args.threads} thread(s), "
          f"median of {repeats}")
    print(f"{'case':10s} {'seconds':>8s} {'clips/s':>9s} {'x realtime':>11s} {'vs features':>12s}")
    for name, row in rows.items():
        print(f"{name:10s} {row['seconds']:8.4f} {row['clips_per_second']:9.1f} {row['realtime_factor']:11.1f} "
              f"{row['ratio_vs_features']:12.2f}")
    print(f"reference: faster than {REFERENCE_CLIPS_PER_SECOND:g} clips/s on one thread of a 2-core runner")
    busy = machine_busy(before, load_average(), args.threads)

    if not args.quick:
        write_result(args.json, {**machine_record("cpu", args.threads), "clips": args.clips, "repeats": repeats,
                                 "statistic": "median", "motion_seconds": round(motion_seconds, 2),
                                 "reference_clips_per_second": REFERENCE_CLIPS_PER_SECOND,
                                 "machine_busy": busy, "cases": rounded(rows)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
