"""``python -m hmu_demo.data.synth --out DIR --size N --seed S``: build a SynthMotion corpus."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hmu_demo.data.synth.corpus import (DEFAULT_SEED, DEFAULT_SIZE, DEFAULT_VIOLENT_SHARE, PHRASINGS, CorpusSpec,
                                        build_corpus, read_manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.data.synth",
                                     description="Build the SynthMotion corpus in the HumanML3D folder layout.")
    parser.add_argument("--out", type=Path, required=True, help="folder to create")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"number of clips (default {DEFAULT_SIZE})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed; same seed, same files")
    parser.add_argument("--violent-share", type=float, default=DEFAULT_VIOLENT_SHARE,
                        help=f"share of clips that contain violence (default {DEFAULT_VIOLENT_SHARE})")
    parser.add_argument("--phrasing", choices=PHRASINGS, default="heldout",
                        help="heldout (default): val/test captions use held-out templates, subjects and frames, and "
                             "val/test clips held-out action combinations; shared: the version-1 corpus (one "
                             "phrasing pool for every split), to reproduce figures made before the held-out split")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        spec = (CorpusSpec.shared(args.size, args.seed, args.violent_share) if args.phrasing == "shared"
                else CorpusSpec(args.size, args.seed, args.violent_share))
        out = build_corpus(args.out, spec,
                           workers=args.workers, progress=not args.quiet, overwrite=args.overwrite)
    except (ValueError, FileExistsError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.size} clips to {out} in {time.perf_counter() - started:.1f} s")
    overlap = read_manifest(out)["caption_overlap"]["test"]
    print(f"train/test caption overlap: verbatim {overlap['verbatim_share']:.1%}, "
          f"normalised {overlap['normalised_share']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
