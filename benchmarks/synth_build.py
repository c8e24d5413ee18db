"""How fast SynthMotion builds, against a baseline measured in the same run.

Baseline: generating clips in this process, one after the other (no file writing, no workers).
Measured: the real corpus build (workers, files, statistics), on a sample or on the full default
corpus with ``--full``; and the validator over what was built. Prints clips per second, the ratio
to the baseline, and the (projected) time of the default corpus. Writes benchmarks/results/synth_build.json.

    python benchmarks/synth_build.py            # sample of 600 clips, about 20 s
    python benchmarks/synth_build.py --full     # the default corpus itself
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hmu_demo.data.synth.compose import generate_clip  # noqa: E402
from hmu_demo.data.synth.corpus import DEFAULT_SIZE, CorpusSpec, build_corpus  # noqa: E402
from hmu_demo.data.synth.validate import main as validate_main  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="build the whole default corpus")
    parser.add_argument("--sample", type=int, default=600, help="clips to build without --full")
    parser.add_argument("--baseline", type=int, default=150, help="clips for the in-process baseline")
    args = parser.parse_args()

    started = time.perf_counter()
    for index in range(args.baseline):
        generate_clip(0, index)
    baseline = args.baseline / (time.perf_counter() - started)

    size = DEFAULT_SIZE if args.full else args.sample
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = build_corpus(Path(tmp) / "corpus", CorpusSpec(size=size), progress=False)
        build_seconds = time.perf_counter() - started
        bytes_total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        redrawn = json.loads((root / "corpus.json").read_text())["redrawn_clips"]
        started = time.perf_counter()
        valid = validate_main([str(root)]) == 0
        validate_seconds = time.perf_counter() - started

    build_rate = size / build_seconds
    result = {
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "baseline_clips_per_s_in_process": round(baseline, 1),
        "build_clips": size,
        "build_seconds": round(build_seconds, 1),
        "build_clips_per_s": round(build_rate, 1),
        "build_vs_baseline": round(build_rate / baseline, 2),
        "bytes": bytes_total,
        "redrawn_clips": redrawn,
        "default_size": DEFAULT_SIZE,
        "default_build_seconds": round(build_seconds if args.full else DEFAULT_SIZE / build_rate, 1),
        "default_is_projected": not args.full,
        "validate_seconds": round(validate_seconds, 1),
        "validate_clips_per_s": round(size / validate_seconds, 1),
        "validator_passed": valid,
    }
    for key, value in result.items():
        print(f"{key:34s} {value}")
    out = Path(__file__).parent / "results" / "synth_build.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
