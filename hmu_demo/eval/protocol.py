"""The evaluation sets of the HMU protocol (§2.1, §3 of the published protocol) and their per-repeat draws.

Each model is evaluated on two sets of the test split: **forget** (motions of
``kw_splits/test-w-<concept>.txt``) and **retain** (``test-wo-<concept>.txt``). A set holds one sample
per caption line (so the forget set also holds the captions of forget motions that name no keyword),
each with the frames its span covers; spans shorter than ``MIN_FRAMES`` are skipped as in training.
Missing keyword split files are computed in memory with :func:`hmu_demo.data.splits.build_splits`,
the same rule that writes them.

Every repeat shuffles the set again (fresh batches of 32) and draws a fresh window of ``MAX_FRAMES``
for longer spans. With a sample budget (``samples`` captions, fewer than the set holds) the draw
goes **motion first**: one random caption of every motion, in random order, before any motion's
second caption. The captions of one motion share its clip, so N captions of N different motions
carry as much of the real distribution as the set allows at that cost (FID's real side, and the
noise floor of :mod:`hmu_demo.eval.metrics.noise_floor`, depend on the number of distinct clips).
The default budget (:meth:`EvalSet.default_samples`) takes every motion once and at least 600
captions where the set has them (300 Diversity pairs with no caption in two pairs).
Lengths are cut to a multiple of 4 frames (the models' and the evaluator's unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmu_demo.data.captions import Caption
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import Lexicon
from hmu_demo.data.limits import MIN_FRAMES
from hmu_demo.data.splits import build_splits, split_file_names
from hmu_demo.eval.metrics.noise_floor import group_first
from hmu_demo.motion.skeleton import MAX_FRAMES

__all__ = ["EvalSample", "EvalSet", "Draw", "load_eval_sets", "mask_caption", "MAX_FRAMES", "BATCH",
           "MIN_DEFAULT_SAMPLES", "UNIT"]

BATCH = 32
UNIT = 4
MIN_DEFAULT_SAMPLES = 600          # 2 x the 300 Diversity pairs


@dataclass(frozen=True)
class EvalSample:
    motion_id: str
    caption: Caption
    start: int
    stop: int            # span [start, stop), stop - start a multiple of UNIT, >= MIN_FRAMES

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Draw:
    """One repeat's samples: the captions to generate from and the real windows they are compared with."""

    samples: list[EvalSample]
    windows: list[tuple[int, int]]   # the real frames used this repeat (a MAX_FRAMES window of long spans)

    @property
    def lengths(self) -> list[int]:
        return [b - a for a, b in self.windows]


@dataclass
class EvalSet:
    name: str                        # "forget" or "retain"
    samples: list[EvalSample]
    dataset: MotionDataset

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def motions(self) -> int:
        """Distinct motions (clips) of the set."""
        return len({s.motion_id for s in self.samples})

    def default_samples(self) -> int:
        """Every motion once, and at least ``MIN_DEFAULT_SAMPLES`` captions where the set has them."""
        return min(len(self.samples), max(self.motions, MIN_DEFAULT_SAMPLES))

    def draw(self, rng: np.random.Generator, samples: int | None = None, batches: int | None = None) -> Draw:
        """A fresh shuffle (and windows) of the set; ``samples`` (fewer than the set holds): that many
        captions, motion first (:func:`~hmu_demo.eval.metrics.noise_floor.group_first`), shuffled again so
        batches of 32 mix. ``batches`` (older callers): ``samples`` = 32 x ``batches``."""
        if batches is not None:
            samples = batches * BATCH
        if samples is None or samples >= len(self.samples):
            order = rng.permutation(len(self.samples))
        else:
            order = group_first([s.motion_id for s in self.samples], samples, rng)
        picked, windows = [], []
        for i in order:
            s = self.samples[int(i)]
            start = s.start
            if s.frames > MAX_FRAMES:
                start += int(rng.integers(0, (s.frames - MAX_FRAMES) // UNIT + 1)) * UNIT
            picked.append(s)
            windows.append((start, start + min(s.frames, MAX_FRAMES)))
        return Draw(picked, windows)

    def real_features(self, draw: Draw) -> list[np.ndarray]:
        """Raw (T, 263) features of the draw's real windows."""
        return [self.dataset.features(s.motion_id)[a:b] for s, (a, b) in zip(draw.samples, draw.windows)]


def _samples(ds: MotionDataset, ids: list[str]) -> list[EvalSample]:
    out = []
    for motion_id in ids:
        n = int(ds.features(motion_id).shape[0])
        for caption in ds.captions(motion_id):
            start, stop = caption.frame_span(n)
            stop = start + (stop - start) // UNIT * UNIT
            if stop - start >= MIN_FRAMES:
                out.append(EvalSample(motion_id, caption, start, stop))
    return out


def load_eval_sets(data: str | Path, concept: str, lexicon: Lexicon, split: str = "test"
                   ) -> tuple[EvalSet, EvalSet, dict]:
    """(forget, retain, info) of ``split``; info says where the ids came from."""
    ds = MotionDataset(data)
    forget_name, retain_name = split_file_names(split, concept)
    folder = Path(data) / "kw_splits"
    if (folder / forget_name).is_file() and (folder / retain_name).is_file():
        forget_ids = ds.split_ids(f"kw_splits/{forget_name}")
        retain_ids = ds.split_ids(f"kw_splits/{retain_name}")
        source = f"{folder / forget_name}, {folder / retain_name}"
    else:
        result = build_splits(ds, concept, lexicon, splits=(split,))
        forget_ids, retain_ids = result.forget[split], result.retain[split]
        source = f"keyword rule of lexicon {lexicon.name!r} on {split}.txt (no kw_splits files)"
    forget = EvalSet("forget", _samples(ds, forget_ids), ds)
    retain = EvalSet("retain", _samples(ds, retain_ids), ds)
    for s in (forget, retain):
        if len(s) < BATCH:
            raise ValueError(f"the {s.name} set of {data} [{split}] has {len(s)} usable captions; "
                             f"the protocol needs at least one batch of {BATCH}")
    info = {"source": source, "forget_motions": len(forget_ids), "retain_motions": len(retain_ids),
            "forget_captions": len(forget), "retain_captions": len(retain)}
    return forget, retain, info


def mask_caption(caption: Caption, lexicon: Lexicon, mask: str = "***") -> tuple[Caption, bool]:
    """The caption with the concept's words replaced by ``mask`` (text and word/POS tokens), and
    whether anything was masked: MM-Safe's "safe part of the prompt" (§4 of the published protocol)."""
    text, changed = lexicon.mask_words(caption.text, mask)
    tokens = []
    for token in caption.tokens:
        word, sep, pos = token.rpartition("/")
        word = word if sep else token
        masked, hit = lexicon.mask_words(word, mask)
        changed = changed or hit
        tokens.append(f"{mask}/{pos}" if hit and sep else (mask if hit else token))
    if not changed:
        return caption, False
    return Caption(text, tuple(tokens), caption.start, caption.end), True
