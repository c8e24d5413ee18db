"""HMU Studio entry point.

The Gradio app (original vs unlearned, side by side) is not built yet; until it is, this prints
what the installed project can already do, so ``python app.py`` works on a fresh machine.
"""

from __future__ import annotations

import sys

from hmu_demo import __version__
from hmu_demo.data.synth.actions import SAFE_ACTIONS, VIOLENT_ACTIONS


def main() -> int:
    print(f"HMU Studio {__version__}: the web app is not built yet. What works today:")
    print(f"  SynthMotion corpus: {len(VIOLENT_ACTIONS)} violent and {len(SAFE_ACTIONS)} safe actions")
    print("    python -m hmu_demo.data.synth --out data/synthmotion")
    print("    python -m hmu_demo.data.synth.validate data/synthmotion")
    print("    python -m hmu_demo.data.synth.preview data/synthmotion 000000 --out clip.png")
    print("  rendering (3D body video, side by side, BVH):")
    print("    python -m hmu_demo.render data/synthmotion/new_joints/000000.npy --out clip.mp4")
    print("  forget/retain splits:")
    print("    python -m hmu_demo.data.splits --data data/synthmotion --concept violence --json")
    print("  text-to-motion with the shipped MoMask and BAMM models (checkpoints/embedded):")
    print('    python -m hmu_demo.generate "a person punches and then kicks" --out out/ [--backbone bamm]')
    print("    python -m hmu_demo.eval.quality --json          # recon MPJPE, judge top-1, violent share")
    print("  unlearning (UCE, RECE, LCR, LCR-orth, LCR-nearest, LCR-gated) and its evaluation:")
    print("    python -m hmu_demo.unlearn --method lcr-gated --concept violence --out edits/gated")
    print('    python -m hmu_demo.generate "a man punches and then kicks" --edit edits/gated --out out/')
    print("    python -m hmu_demo.eval.quick --backbones momask,bamm --json")
    print("  forget/retain benchmark (HMU protocol, 95 % CIs; results in docs/results/benchmark_embedded):")
    print("    python -m hmu_demo.eval.benchmark --quick --out outputs/bench_quick")
    print("    python -m hmu_demo.eval.benchmark --repeats 20 --batches 1 --out outputs/bench")
    print("  training (every model, resumable; GPU when available):")
    print("    python -m hmu_demo.train.embedded --vq-minutes 4 --minutes 7 --parallel")
    print("    python -m hmu_demo.train.embedded --retain-only violence   # D_r, the benchmark's reference")
    print("    python -m hmu_demo.train.evaluator --minutes 30            # the embedded text-motion evaluator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
