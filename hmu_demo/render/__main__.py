"""Command line: render joints (.npy, (T, 22, 3), 20 fps) to MP4, side by side, BVH, NPY or HTML.

    python -m hmu_demo.render JOINTS.npy --out x.mp4 [--body smpl|default|skeleton]
        [--side-by-side OTHER.npy] [--caption TEXT] [--bvh out.bvh] [--npy out.npy]

Bad input gets one line on stderr and exit code 2; nothing already written is touched.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from hmu_demo.motion.bvh import write_bvh
from hmu_demo.render import api
from hmu_demo.render.body_smpl import SmplModelError, find_smpl_file
from hmu_demo.render.config import BODIES, RenderConfig
from hmu_demo.render.gl import RenderBackendError
from hmu_demo.render.motion_input import MotionInputError, load_joints
from hmu_demo.render.plotly_view import skeleton_figure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.render",
                                     description="Render a motion (joints .npy, (T, 22, 3), 20 fps).")
    parser.add_argument("joints", type=Path, help="joints .npy of shape (T, 22, 3) in metres, Y up")
    parser.add_argument("--out", type=Path, help="output video (.mp4, H.264)")
    parser.add_argument("--body", choices=BODIES, default="default",
                        help="default: mannequin (free); smpl: needs checkpoints/smpl; skeleton: stick figure")
    parser.add_argument("--side-by-side", dest="other", type=Path, metavar="OTHER.npy",
                        help="second motion shown on the right (e.g. the unlearned model's)")
    parser.add_argument("--labels", nargs=2, default=("original", "unlearned"), metavar=("LEFT", "RIGHT"),
                        help="panel labels for --side-by-side")
    parser.add_argument("--caption", help="text burned in at the bottom")
    parser.add_argument("--size", type=int, default=512, help="panel width and height in pixels (default 512)")
    parser.add_argument("--fps", type=int, default=20)
    parser.add_argument("--bvh", type=Path, help="also export BVH (centimetres, ZXY Euler)")
    parser.add_argument("--npy", type=Path, help="also export the checked joints as .npy (float32)")
    parser.add_argument("--html", type=Path, help="also export an interactive plotly 3D view (.html)")
    parser.add_argument("--png", type=Path, help="also save the middle frame as .png")
    return parser


def run(args: argparse.Namespace) -> list[Path]:
    if not any([args.out, args.bvh, args.npy, args.html, args.png]):
        raise ValueError("nothing to do: give --out, --bvh, --npy, --html or --png")
    joints = load_joints(args.joints)
    other = load_joints(args.other) if args.other else None
    config = RenderConfig(width=args.size, height=args.size, fps=args.fps, body=args.body, caption=args.caption)
    if args.body == "smpl":
        find_smpl_file()  # fail early with the set-up message
    written: list[Path] = []
    if args.npy:
        args.npy.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.npy, joints.astype(np.float32))
        written.append(args.npy)
    if args.bvh:
        written.append(write_bvh(joints, args.bvh, fps=args.fps))
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        skeleton_figure(joints, title=args.caption, fps=args.fps).write_html(str(args.html), include_plotlyjs=True)
        written.append(args.html)
    if args.png:
        from PIL import Image

        args.png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(api.preview_frame(joints, config=config)).save(args.png)
        written.append(args.png)
    if args.out:
        if other is not None:
            written.append(api.render_side_by_side(joints, other, args.out, config, labels=args.labels))
        else:
            written.append(api.render_video(joints, args.out, config))
    return written


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        written = run(args)
    except (MotionInputError, SmplModelError, RenderBackendError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
