"""BAMM decoding speed: key/value-cached incremental decoding against the uncached reference, on this machine.

    python benchmarks/bamm_decode.py [--bundle checkpoints/embedded] [--batches 1 16 64]
        [--min-tokens 10] [--max-tokens 49] [--batch1-calls 4] [--repeats 3] [--baseline-repeats 1]
        [--remask first|even] [--threads N] [--device cpu|cuda] [--quick] [--json PATH]

Times ``BAMMTransformer.generate`` alone (both cascaded passes; no text encoder, residual layers or RVQ
decoding) with ``cache=True`` (the default: one new position per autoregressive step against cached
keys/values) and with ``cache=False`` (the baseline, measured in the same run: the whole sequence through
the network at every step). The condition vectors are random unit vectors (the speed does not depend on
them) and the token lengths are drawn uniformly in ``--min-tokens .. --max-tokens`` from a fixed seed,
one length per sample, the same for both paths. Batch 1 is ``--batch1-calls`` calls of one sample each
(different lengths); the other batch sizes are one call of that many samples. Each case is warmed up
once (the baseline with a short 2-token call at the same batch size, since it costs the same per step),
then timed: the median of ``--repeats`` runs for the cache, of ``--baseline-repeats`` for the baseline.
One generator per sample (seeded by its index) as hmu_demo/pipelines/text_to_motion.py does; the ids of both paths are
compared sample by sample ("same ids": they may differ only by rare float-rounding flips).

Prints generations/s, ms per generation and the speed-up (cached / uncached generations per second) per
batch size, and writes them as JSON to benchmarks/results/bamm_decode.json (bamm_decode_even.json with
``--remask even``; nothing with ``--quick``). A warning is printed when other processes were using the
cores (load average), since the figures are then too slow (the ratio less so).
Exit codes: 0 ok, 2 bad usage or no bundle folder / no BAMM in it.
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

import torch  # noqa: E402


def _load_bamm(folder: Path, device: str):
    """The bundle's BAMM transformer on ``device``, or exit 2 with a one-line message."""
    from hmu_demo.models.bundle import BundleError, ModelBundle

    folder = folder.expanduser()
    if not (folder / "bundle.json").is_file():
        print(f"error: no model bundle at {folder} (no bundle.json); pass --bundle DIR", file=sys.stderr)
        raise SystemExit(2)
    try:
        bundle = ModelBundle.load(folder)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if bundle.bamm is None:
        print(f"error: the bundle at {folder} has no BAMM transformer", file=sys.stderr)
        raise SystemExit(2)
    return bundle.bamm.to(device).eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "checkpoints" / "embedded",
                        help="bundle folder (default checkpoints/embedded)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64], help="batch sizes (default 1 16 64)")
    parser.add_argument("--min-tokens", type=int, default=10, help="shortest token length (default 10 = 40 frames)")
    parser.add_argument("--max-tokens", type=int, default=49, help="longest token length (default 49 = 196 frames)")
    parser.add_argument("--batch1-calls", type=int, default=4, help="one-sample calls timed for batch 1 (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the cached path, median reported")
    parser.add_argument("--baseline-repeats", type=int, default=1,
                        help="timed runs of the uncached baseline, median reported (default 1: it is slow)")
    parser.add_argument("--remask", choices=("first", "even"), default="first",
                        help="pass-2 re-masking (default first, as the text-to-motion pipeline)")
    add_speed_arguments(parser, "smoke test: 1 repeat, batch sizes 1 and 4, no JSON",
                        "where to write the results (default benchmarks/results/bamm_decode.json, "
                        "bamm_decode_even.json with --remask even)")
    args = parser.parse_args()
    if (args.repeats < 1 or args.baseline_repeats < 1 or args.batch1_calls < 1 or args.threads < 1
            or min(args.batches) < 1):
        parser.error("--repeats, --baseline-repeats, --batch1-calls, --threads and --batches must be >= 1")
    sync = start_speed_run(parser, args)
    repeats = 1 if args.quick else args.repeats
    base_repeats = 1 if args.quick else args.baseline_repeats
    batches = [1, 4] if args.quick else sorted(set(args.batches))

    load_before = load_average()  # before this process does any work
    started = time.perf_counter()
    bamm = _load_bamm(args.bundle, args.device)
    load_seconds = time.perf_counter() - started
    horizon = bamm.max_motion_tokens
    if not 1 <= args.min_tokens <= args.max_tokens <= horizon:
        parser.error(f"need 1 <= --min-tokens <= --max-tokens <= {horizon} (BAMM's horizon)")

    rng = torch.Generator().manual_seed(0)
    clip_dim = bamm.cfg.clip_dim

    def workload(size: int) -> list[tuple[torch.Tensor, list[int]]]:
        """Calls of the case: (cond (b, clip_dim), token lengths) each."""
        n_calls, per_call = (args.batch1_calls, 1) if size == 1 else (1, size)
        calls = []
        for _ in range(n_calls):
            cond = torch.randn(per_call, clip_dim, generator=rng)
            cond = (cond / cond.norm(dim=1, keepdim=True)).to(args.device)
            lens = torch.randint(args.min_tokens, args.max_tokens + 1, (per_call,), generator=rng).tolist()
            calls.append((cond, lens))
        return calls

    def run(calls, cache: bool) -> list[torch.Tensor]:
        outs = []
        for cond, lens in calls:
            gens = [torch.Generator(device=args.device).manual_seed(i) for i in range(len(lens))]
            ids, _ = bamm.generate(cond, lens, remask=args.remask, generator=gens, cache=cache)
            outs.append(ids)
        return outs

    print(f"device {args.device}, {args.threads} torch threads ({os.cpu_count()} cores, {platform.machine()}), "
          f"torch {torch.__version__}, 1-min load average {load_before:.2f}")
    print(f"bundle: {args.bundle} (BAMM loaded in {load_seconds:.1f} s): {bamm.cfg.n_layers} layers, "
          f"latent {bamm.cfg.latent_dim}, horizon {horizon} tokens; remask {args.remask!r}")
    print(f"token lengths uniform in {args.min_tokens}..{args.max_tokens}; batch 1 over {args.batch1_calls} calls; "
          f"warm-up then median of {repeats} (cache) / {base_repeats} (baseline, cache=False)")

    rows: dict[str, dict[str, float | int]] = {}
    for size in batches:
        calls = workload(size)
        n = sum(len(lens) for _, lens in calls)
        outs: dict[bool, list[torch.Tensor]] = {}
        secs: dict[bool, float] = {}
        for cache in (False, True):
            warm = calls[:1] if cache else [(calls[0][0], [2] * len(calls[0][1]))]
            run(warm, cache)

            def timed(cache: bool = cache) -> None:
                outs[cache] = run(calls, cache)

            secs[cache] = median_seconds(timed, repeats if cache else base_repeats, sync)
        same = sum(int(torch.equal(a[i], b[i])) for a, b in zip(outs[False], outs[True]) for i in range(a.shape[0]))
        rows[f"b{size}"] = {
            "batch": size, "generations": n, "mean_tokens": round(sum(sum(lens) for _, lens in calls) / n, 2),
            "cached_generations_per_second": n / secs[True], "cached_ms_per_generation": 1000 * secs[True] / n,
            "uncached_generations_per_second": n / secs[False], "uncached_ms_per_generation": 1000 * secs[False] / n,
            "speedup": secs[False] / secs[True], "same_ids": same,
        }
        print(f"  batch {size}: done", flush=True)

    print(f"\n{'batch':>5s} {'mean tok':>8s} {'cached gen/s':>13s} {'ms/gen':>8s} {'uncached gen/s':>15s} "
          f"{'ms/gen':>9s} {'speed-up':>9s} {'same ids':>9s}")
    for row in rows.values():
        print(f"{row['batch']:5d} {row['mean_tokens']:8.1f} {row['cached_generations_per_second']:13.2f} "
              f"{row['cached_ms_per_generation']:8.1f} {row['uncached_generations_per_second']:15.3f} "
              f"{row['uncached_ms_per_generation']:9.1f} {row['speedup']:8.1f}x "
              f"{row['same_ids']:>4d}/{row['generations']:<4d}")
    load_after = load_average()
    busy = machine_busy(load_before, load_after, args.threads)
    print("speed-up = cached generations/s / uncached (baseline, same run) generations/s; "
          "'same ids' = samples whose ids are identical on both paths")

    result = {
        **machine_record(args.device, args.threads), "source": str(args.bundle),
        "remask": args.remask, "min_tokens": args.min_tokens, "max_tokens": args.max_tokens,
        "batch1_calls": args.batch1_calls, "repeats": repeats, "baseline_repeats": base_repeats,
        "statistic": "median", "baseline": "generate(cache=False) in the same run",
        "load_seconds": round(load_seconds, 2), "load_average_before": round(load_before, 2),
        "load_average_after": round(load_after, 2), "machine_busy": busy,
        "rows": rounded(rows),
    }
    if not args.quick:
        if args.json is None:
            name = "bamm_decode.json" if args.remask == "first" else f"bamm_decode_{args.remask}.json"
            args.json = REPO / "benchmarks" / "results" / name
        write_result(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
