"""Generation throughput of the benchmark's draws: length-sorted batches against the draw's own order.

    python benchmarks/eval_generation.py [--data DIR] [--bundle checkpoints/embedded] [--samples 128]
        [--batch-size 16] [--backbones momask,bamm] [--threads N] [--json PATH]

The benchmark generates one motion per caption at its ground-truth length. A batch is padded to its
longest motion, so :func:`hmu_demo.eval.generation.generate_motions` sorts the captions by length
before batching (each prompt's motion is independent of its batch, so the motions are the same).
Baseline measured in the same run: the same captions batched in the shuffled order of the draw.
Prints generations per second and the ratio; writes benchmarks/results/eval_generation.json.

Measured on the 2-core CPU with 64 captions (one replication of the benchmark's ``--batches 1``):
batches of 64 gain nothing from sorting (one batch holds them all); batches of 16 in length order
give MoMask 20.1 generations/s against 12.3 in draw order (10.0 at batch 64) and BAMM 27.7 against
20.6 (18.2 at 64), hence the benchmark's default generation batch of 16. Tokens can differ from the
draw-order run by floating-point rounding of differently padded batches (the script says so).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import write_result  # noqa: E402

from hmu_demo.data.lexicon import load_lexicon  # noqa: E402
from hmu_demo.data.locate import resolve_data  # noqa: E402
from hmu_demo.eval.generation import generate_motions  # noqa: E402
from hmu_demo.eval.protocol import load_eval_sets  # noqa: E402
from hmu_demo.models.bundle import ModelBundle  # noqa: E402
from hmu_demo.models.text import CachedTextEncoder  # noqa: E402
from hmu_demo.pipelines.requests import GenerationRequest  # noqa: E402
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline  # noqa: E402


def _unsorted(gen, keys, backbone: str, seed: int, batch_size: int) -> dict:
    out = {}
    for s in range(0, len(keys), batch_size):
        chunk = keys[s:s + batch_size]
        request = GenerationRequest([t for t, _ in chunk], tuple(f for _, f in chunk), seed=seed, backbone=backbone)
        out.update(zip(chunk, gen(request).motions))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--bundle", type=Path, default=REPO / "checkpoints" / "embedded")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--backbones", default="momask,bamm")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "eval_generation.json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = resolve_data(args.data, progress=True)
    bundle = ModelBundle.load(args.bundle)
    encoder = CachedTextEncoder(bundle.make_text_encoder("cpu"))
    gen = TextToMotionPipeline(bundle, encoder, device="cpu")
    _, retain, _ = load_eval_sets(data, "violence", load_lexicon("violence"))
    draw = retain.draw(np.random.default_rng(0), batches=max(1, args.samples // 32))
    keys = list(dict.fromkeys((s.caption.text, n) for s, n in zip(draw.samples, draw.lengths)))
    encoder.encode([t for t, _ in keys])  # text encoding is not what is measured
    results = {}
    for backbone in args.backbones.split(","):
        _unsorted(gen, keys[: args.batch_size], backbone, 0, args.batch_size)  # warm-up
        t = time.perf_counter()
        base = _unsorted(gen, keys, backbone, 0, args.batch_size)
        t_base = time.perf_counter() - t
        t = time.perf_counter()
        fast = generate_motions(gen, keys, backbone, 0, args.batch_size)
        t_fast = time.perf_counter() - t
        same = all(np.array_equal(base[k].tokens, fast[k].tokens) for k in keys)
        results[backbone] = {"generations": len(keys), "draw_order_per_s": round(len(keys) / t_base, 2),
                             "length_sorted_per_s": round(len(keys) / t_fast, 2),
                             "speedup": round(t_base / t_fast, 2), "same_tokens": same}
        print(f"{backbone}: {len(keys)} generations, draw order {len(keys) / t_base:.2f}/s, length-sorted "
              f"{len(keys) / t_fast:.2f}/s, ratio {t_base / t_fast:.2f}x, same tokens: {same}")
    record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.processor() or platform.machine(),
              "threads": torch.get_num_threads(), "batch_size": args.batch_size,
              "mean_frames": float(np.mean([n for _, n in keys])), "results": results}
    write_result(args.json, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
