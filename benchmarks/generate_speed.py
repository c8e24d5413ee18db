"""Generation speed: prompts per second at batch 1 and batch 32, per backbone (MoMask, BAMM), on this machine.

    python benchmarks/generate_speed.py [--bundle checkpoints/embedded | --preset tiny|embedded]
        [--seconds 4] [--repeats 3] [--batch 32] [--batch1-prompts 8] [--steps 10]
        [--threads N] [--device cpu|cuda] [--quick] [--json PATH]

Times the text-to-motion pipeline (hmu_demo/pipelines/text_to_motion.py) end to end, as a user waits for it: MiniLM text encoding, base tokens
(MoMask masked decoding or BAMM), residual layers, RVQ decoding and joints. Every motion has the same
fixed length (``--seconds``, default 4 s = 80 frames) so that the backbones and batch sizes compare;
the length estimator is not used. Batch 1 is one call per prompt over the first ``--batch1-prompts``
of a fixed list of 32 varied prompts; batch 32 is one call with all of them. Each case is warmed up
once, then timed ``--repeats`` times; the median is reported.

Baselines, both measured in the same run: batch 1 of the same backbone (the "vs batch 1" column),
and MoMask at the same batch size (the "bamm/momask" column). Text encoding alone
(``gen.text_encoder.encode``) is timed separately at each batch size, to show its share; it is
included in the generation figures. With ``--preset`` a randomly initialised bundle of that size is
timed instead of a trained one: at a fixed length, random weights cost the same time as trained ones.
Writes the numbers as JSON to benchmarks/results/generate_speed.json (generate_speed_preset_NAME.json
with ``--preset``; nothing with ``--quick``). A warning is printed when other processes were using
the cores (load average), since the figures are then too slow.
Exit codes: 0 ok, 2 bad usage or no bundle folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from timing import (add_speed_arguments, load_average, machine_busy, machine_record, median_seconds,  # noqa: E402
                    rounded, start_speed_run, write_result)

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROMPTS = [
    "a person walks forward", "a man jumps up twice", "someone waves with the right hand",
    "a person punches with the left fist", "a man kicks forward with his right leg", "a person sits down",
    "a woman turns around and walks back", "a person claps three times", "someone bows politely",
    "a man runs in a circle", "a person throws something overhand", "a figure stretches both arms up",
    "a person shoves someone away", "a man squats and stands up", "a person picks something up from the floor",
    "someone headbutts forward", "a person walks backwards slowly", "a man elbows to the side",
    "a person hops on one leg", "someone slaps with the right hand", "a person walks to the left",
    "a man does a jumping jack", "a person stomps on the ground", "someone knees forward twice",
    "a person waves both arms", "a man strikes downward with both hands", "a person sidesteps to the right",
    "someone dances in place", "a person jogs forward and stops", "a man raises his arms and cheers",
    "a person punches and then kicks", "someone walks forward then sits down",
]
BACKBONES = ("momask", "bamm")
FPS = 20


def _load_bundle(args: argparse.Namespace):
    """(bundle, description) or exit 2 with a one-line message."""
    from hmu_demo.models.bundle import BundleConfig, BundleError, ModelBundle

    if args.preset:
        torch.manual_seed(0)
        bundle = ModelBundle(BundleConfig.preset(args.preset), np.zeros(263, np.float32), np.ones(263, np.float32))
        return bundle, f"preset {args.preset} (randomly initialised; same speed as trained weights at a fixed length)"
    folder = Path(args.bundle).expanduser()
    if not (folder / "bundle.json").is_file():
        print(f"error: no model bundle at {folder} (no bundle.json); train it, pass --bundle DIR, "
              "or time a randomly initialised bundle with --preset embedded", file=sys.stderr)
        raise SystemExit(2)
    try:
        return ModelBundle.load(folder), str(folder)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bundle", type=Path, default=REPO / "checkpoints" / "embedded",
                        help="bundle folder (default checkpoints/embedded)")
    source.add_argument("--preset", choices=("tiny", "embedded"), default=None,
                        help="time a randomly initialised bundle of this size instead")
    parser.add_argument("--seconds", type=float, default=4.0, help="fixed motion length (default 4 s = 80 frames)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case, median reported")
    parser.add_argument("--batch", type=int, default=32, help="the large batch size (default 32)")
    parser.add_argument("--batch1-prompts", type=int, default=8,
                        help="prompts timed one call each for batch 1 (default 8, to keep BAMM's run short)")
    parser.add_argument("--steps", type=int, default=10, help="MoMask masked-decoding iterations")
    add_speed_arguments(parser, "smoke test: 1 repeat, batch sizes 1 and 8",
                        "where to write the results (default benchmarks/results/generate_speed.json, "
                        "generate_speed_preset_NAME.json with --preset)")
    args = parser.parse_args()
    if args.repeats < 1 or args.batch < 2 or args.batch1_prompts < 1 or args.threads < 1 or not args.seconds > 0:
        parser.error("--repeats, --batch1-prompts and --threads must be >= 1, --batch >= 2, --seconds > 0")
    sync = start_speed_run(parser, args)
    repeats = 1 if args.quick else args.repeats
    big = 8 if args.quick else args.batch
    n1 = min(args.batch1_prompts, big)

    load_before = load_average()  # before this process does any work
    from hmu_demo.pipelines.requests import GenerationRequest
    from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline

    started = time.perf_counter()
    bundle, source = _load_bundle(args)
    gen = TextToMotionPipeline(bundle, bundle.make_text_encoder(args.device), device=args.device)
    load_seconds = time.perf_counter() - started
    frames = gen._frames(args.seconds * FPS, min(gen.max_frames(b) for b in BACKBONES))
    backbones = [b for b in BACKBONES if b != "bamm" or bundle.bamm is not None]
    prompts_big = [PROMPTS[i % len(PROMPTS)] for i in range(big)]
    cases = {1: [[p] for p in PROMPTS[:n1]], big: [prompts_big]}  # batch size -> list of calls

    def run(backbone: str, calls: list[list[str]]) -> None:
        for batch in calls:
            gen(GenerationRequest(batch, (frames,) * len(batch), seed=0, steps=args.steps, backbone=backbone))

    def encode(calls: list[list[str]]) -> None:
        for batch in calls:
            gen.text_encoder.encode(batch)

    print(f"device {args.device}, {args.threads} torch threads ({os.cpu_count()} cores, {platform.machine()}), "
          f"torch {torch.__version__}, 1-min load average {load_before:.2f}")
    print(f"bundle: {source} (loaded with the text encoder in {load_seconds:.1f} s)")
    print(f"{frames} frames per motion ({frames / FPS:g} s), MoMask steps {args.steps}, batch 1 over {n1} prompts, "
          f"batch {big} over {big}; warm-up then median of {repeats}; text encoding included")

    text_ms: dict[int, float] = {}
    for size, calls in cases.items():
        encode(calls[:1])
        text_ms[size] = 1000 * median_seconds(lambda: encode(calls), repeats, sync) / sum(map(len, calls))
    rows: dict[str, dict[str, float]] = {}
    for backbone in backbones:
        for size, calls in cases.items():
            run(backbone, calls[:1])  # warm-up at this batch size
            n = sum(map(len, calls))
            sec = median_seconds(lambda: run(backbone, calls), repeats, sync)
            rows[f"{backbone}_b{size}"] = {"batch": size, "prompts": n, "prompts_per_second": n / sec,
                                           "ms_per_prompt": 1000 * sec / n}

    print(f"\n{'backbone':8s} {'batch':>5s} {'prompts/s':>10s} {'ms/prompt':>10s} {'text ms':>8s} "
          f"{'vs batch 1':>11s} {'bamm/momask':>12s}")
    for backbone in backbones:
        base = rows[f"{backbone}_b1"]["prompts_per_second"]
        for size in cases:
            row = rows[f"{backbone}_b{size}"]
            row["text_ms_per_prompt"] = text_ms[size]
            row["ratio_vs_batch1"] = row["prompts_per_second"] / base
            ref = rows.get(f"momask_b{size}")
            row["ratio_vs_momask"] = row["prompts_per_second"] / ref["prompts_per_second"] if ref else float("nan")
            print(f"{backbone:8s} {size:5d} {row['prompts_per_second']:10.2f} {row['ms_per_prompt']:10.1f} "
                  f"{text_ms[size]:8.1f} {row['ratio_vs_batch1']:10.2f}x {row['ratio_vs_momask']:11.3f}x")
    load_after = load_average()
    busy = machine_busy(load_before, load_after, args.threads,
                        "with all cores in use, torch's threads wait on each other (up to 50x slower on 2 cores): "
                        "compare with --threads 1")
    print("prompts/s and ms/prompt include text encoding; 'text ms' is text encoding alone, per prompt; "
          "'vs batch 1' = speed-up over batch 1 of the same backbone; 'bamm/momask' = BAMM speed / MoMask speed")

    result = {
        **machine_record(args.device, args.threads), "source": source,
        "random_weights": bool(args.preset), "frames": frames, "steps": args.steps, "repeats": repeats,
        "statistic": "median", "text_encoding_included": True, "load_seconds": round(load_seconds, 2),
        "load_average_before": round(load_before, 2), "load_average_after": round(load_after, 2),
        "machine_busy": busy,
        "rows": rounded(rows),
    }
    if not args.quick:
        if args.json is None:
            name = f"generate_speed_preset_{args.preset}.json" if args.preset else "generate_speed.json"
            args.json = REPO / "benchmarks" / "results" / name
        write_result(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
