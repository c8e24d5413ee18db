"""Draw a clip as a strip of stick-figure poses: ``python -m hmu_demo.data.synth.preview DIR ID --out x.png``.

A quick look at a motion without a renderer: side views of evenly spaced frames, with the ground
line and the frame number, so poses and timing can be judged at a glance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hmu_demo.motion.skeleton import FPS, KINEMATIC_CHAINS

CHAIN_COLOURS = ("#c0392b", "#2471a3", "#222222", "#e67e22", "#27ae60")


def draw_strip(joints: np.ndarray, out: Path, n_poses: int = 8, title: str = "") -> Path:
    """Save ``n_poses`` evenly spaced poses of ``joints`` (T, 22, 3) side by side as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = np.linspace(0, len(joints) - 1, min(n_poses, len(joints))).round().astype(int)
    fig, axes = plt.subplots(2, len(frames), figsize=(1.9 * len(frames), 5.2), squeeze=False)
    for col, frame in enumerate(frames):
        pose = joints[frame]
        for row, (axis, label) in enumerate(((2, "side (z)"), (0, "front (x)"))):
            ax = axes[row, col]
            centre = pose[0, axis]
            for chain, colour in zip(KINEMATIC_CHAINS, CHAIN_COLOURS):
                ax.plot(pose[list(chain), axis] - centre, pose[list(chain), 1], "-o", color=colour,
                        lw=2, ms=2)
            ax.axhline(0.0, color="#888888", lw=1)
            ax.set_xlim(-0.9, 0.9)
            ax.set_ylim(-0.05, 2.0)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"f{frame} ({frame / FPS:.1f}s)", fontsize=8)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title[:120], fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="HumanML3D-layout folder")
    parser.add_argument("id", help="motion id, e.g. 000042")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--poses", type=int, default=8, help="number of poses in the strip")
    args = parser.parse_args(argv)
    joints_file = args.data / "new_joints" / f"{args.id}.npy"
    if not joints_file.is_file():
        print(f"error: {joints_file} does not exist", file=sys.stderr)
        return 2
    joints = np.load(joints_file)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        print(f"error: {joints_file} has shape {joints.shape}, expected (T, 22, 3)", file=sys.stderr)
        return 2
    caption_file = args.data / "texts" / f"{args.id}.txt"
    title = caption_file.read_text().splitlines()[0].split("#")[0] if caption_file.is_file() else args.id
    draw_strip(joints, args.out, args.poses, title)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
