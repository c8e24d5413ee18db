"""One SynthMotion clip: a sampled person performing 1 to 3 actions in a row, captioned and labelled.

Everything about a clip is drawn from its own random generator, seeded by (corpus seed, index),
so a clip is the same whatever order or process builds it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from hmu_demo.data.captions import Caption
from hmu_demo.data.synth.actions import ACTIONS, SAFE_ACTIONS, VIOLENT_ACTIONS, ActionSpec
from hmu_demo.data.synth.captions import SegmentWords, compose_caption, make_caption
from hmu_demo.data.synth.keyframes import State, Style
from hmu_demo.data.synth.keys import Params
from hmu_demo.data.synth.rig import SIDES, Body, Channels, pose_joints
from hmu_demo.data.synth.validate import check_clip
from hmu_demo.motion.features import features_to_joints, joints_to_features
from hmu_demo.motion.skeleton import FPS, MAX_FRAMES

MIN_FRAMES = 40
ALL_IMPLICIT_SHARE = 0.15   # violent clips whose every caption avoids violence keywords
IMPLICIT_CAPTION_SHARE = 0.06  # other violent captions that do so one by one (about 1 in 5 overall)
TURN_ANGLES = (90.0, 180.0, 180.0, 360.0)
HELDOUT_COMBINATION_MODULUS = 4  # one multi-action combination in four is val/test only
COMBINATION_DRAWS = 200


@dataclass
class Segment:
    action: str
    start: int
    end: int
    violent: bool
    tags: tuple[str, ...]
    params: Params
    captioned: bool = True

    def label(self) -> dict:
        out = {"action": self.action, "start": self.start, "end": self.end, "violent": self.violent,
               "tags": list(self.tags), "side": self.params.side if ACTIONS.get(self.action, None)
               and ACTIONS[self.action].sided else None, "count": self.params.count,
               "speed": round(self.params.speed, 3), "amplitude": round(self.params.amplitude, 3)}
        if self.action == "walk":
            out["direction"] = self.params.direction
        if not self.captioned:
            out["padding"] = True
        return out


@dataclass
class Clip:
    """A generated clip: features (T, 263), joints (T, 22, 3), captions and labels."""

    features: np.ndarray
    joints: np.ndarray
    captions: list[Caption]
    caption_labels: list[dict]
    segments: list[Segment]
    style: Style = field(repr=False, default_factory=Style)
    attempt: int = 0  # how many draws failed the physical checks before this one

    @property
    def violent(self) -> bool:
        return any(s.violent for s in self.segments)

    def label(self, clip_id: str) -> dict:
        return {"id": clip_id, "n_frames": int(self.features.shape[0]), "fps": FPS, "violent": self.violent,
                "segments": [s.label() for s in self.segments], "captions": self.caption_labels,
                "attempt": self.attempt}


def sample_style(rng: np.random.Generator) -> Style:
    return Style(body=Body().scaled(float(rng.uniform(0.9, 1.08))),
                 stance_half_width=float(rng.uniform(0.09, 0.14)), toe_out=float(rng.uniform(0.04, 0.2)),
                 arm_out=float(rng.uniform(0.05, 0.1)), arm_forward=float(rng.uniform(0.0, 0.06)),
                 arm_bend=float(rng.uniform(0.02, 0.08)), posture=float(rng.uniform(0.0, 0.08)),
                 energy=float(rng.uniform(0.92, 1.08)))


def sample_params(spec: ActionSpec, rng: np.random.Generator, shrink: float = 1.0) -> Params:
    lo, hi = spec.count_range
    count = int(rng.integers(lo, max(lo, int(round(lo + (hi - lo) * shrink))) + 1))
    if spec.name == "turn_around":
        distance = float(rng.choice(TURN_ANGLES))
    else:
        d_lo, d_hi = spec.distance_range
        distance = float(rng.uniform(d_lo, d_lo + (d_hi - d_lo) * shrink)) if d_hi > 0 else 0.0
    return Params(side=str(rng.choice(SIDES)), speed=float(rng.uniform(*spec.speed_range)),
                  amplitude=float(rng.uniform(0.88, 1.12)), count=count,
                  direction=str(rng.choice(spec.directions)), distance=distance)


def heldout_combination(names: list[str]) -> bool:
    """Whether a combination of two or more actions (in any order) is kept for val/test clips only.

    One combination in four, by a fixed hash of the sorted names, so a test clip's actions never
    occur together, in any order, in a training clip.
    """
    return len(names) > 1 and zlib.crc32("+".join(sorted(names)).encode()) % HELDOUT_COMBINATION_MODULUS == 0


def fits_partition(names: list[str], heldout: bool | None) -> bool:
    """A single action fits every split; a combination fits its own side (``None``: no partition)."""
    return heldout is None or len(names) == 1 or heldout_combination(names) == heldout


def sample_actions(rng: np.random.Generator, violent: bool, heldout: bool | None = None) -> list[str]:
    """1 to 3 action names; with ``heldout`` set, redrawn until the combination is on that side."""
    n = int(rng.choice([1, 2, 3], p=[0.42, 0.4, 0.18]))
    for _ in range(COMBINATION_DRAWS):
        names = [str(rng.choice(SAFE_ACTIONS)) for _ in range(n)]
        if violent:
            names[int(rng.integers(n))] = str(rng.choice(VIOLENT_ACTIONS))
            for i in range(n):
                if rng.random() < 0.2:
                    names[i] = str(rng.choice(VIOLENT_ACTIONS))
        if fits_partition(names, heldout):
            return names
    raise RuntimeError(f"no action combination on the {'held-out' if heldout else 'training'} side "
                       f"in {COMBINATION_DRAWS} draws")


def hold(channels: Channels, frame: int, n: int) -> Channels:
    """``n`` frames standing in the pose of ``frame`` (used to pad short clips)."""
    index = frame % channels.length
    return channels.map(lambda a: np.repeat(a[index:index + 1], n, axis=0))


def smooth_noise(rng: np.random.Generator, n: int, dims: int, scale: float) -> np.ndarray:
    """Slow random wobble (sum of low-frequency sinusoids) that makes two performances differ."""
    t = np.arange(n)[:, None] / FPS
    out = np.zeros((n, dims))
    for _ in range(3):
        freq = rng.uniform(0.15, 0.9, size=dims)
        phase = rng.uniform(0, 2 * np.pi, size=dims)
        out += np.sin(2 * np.pi * freq * t + phase) * rng.normal(0, scale / 2, size=dims)
    return out


def add_style_noise(channels: Channels, rng: np.random.Generator) -> None:
    n = channels.length
    for side in SIDES:
        channels.wrist[side] = channels.wrist[side] + smooth_noise(rng, n, 3, 0.02)
    channels.spine = channels.spine + smooth_noise(rng, n, 3, 0.025)
    channels.head = channels.head + smooth_noise(rng, n, 2, 0.05)


def build_channels(names: list[str], rng: np.random.Generator, style: Style) -> tuple[Channels, list[Segment]]:
    """Perform ``names`` in a row; shrink counts and distances until the clip fits 196 frames."""
    for attempt in range(12):
        shrink = max(0.0, 1.0 - attempt * 0.2)
        active = names if attempt < 8 else names[: max(1, len(names) - (attempt - 7))]
        state = State.initial(style, heading=float(rng.uniform(-np.pi, np.pi)))
        parts, segments, start = [], [], 0
        for i, name in enumerate(active):
            spec = ACTIONS[name]
            params = sample_params(spec, rng, shrink)
            channels, state = spec.build(params, state, style)
            if i > 0:  # the first frame repeats the previous action's last one
                channels = channels.map(lambda a: a[1:])
            parts.append(channels)
            segments.append(Segment(name, start, start + channels.length, spec.violent, spec.tags, params))
            start += channels.length
        if start <= MAX_FRAMES + 1:
            return Channels.concatenate(parts), segments
    raise RuntimeError(f"could not fit {names} into {MAX_FRAMES} frames")


def pad_to_minimum(channels: Channels, segments: list[Segment], rng: np.random.Generator) -> tuple[Channels, list[Segment]]:
    """Stand still before and after a short clip so it has at least MIN_FRAMES feature frames."""
    missing = MIN_FRAMES + 1 - channels.length
    if missing <= 0:
        return channels, segments
    missing += int(rng.integers(0, 12))
    before = int(rng.integers(0, missing + 1))
    after = missing - before
    parts, out = [], []
    if before:
        parts.append(hold(channels, 0, before))
        out.append(Segment("stand", 0, before, False, ("idle",), Params(), captioned=False))
    parts.append(channels)
    for s in segments:
        out.append(Segment(s.action, s.start + before, s.end + before, s.violent, s.tags, s.params, s.captioned))
    if after:
        parts.append(hold(channels, -1, after))
        end = before + channels.length
        out.append(Segment("stand", end, end + after, False, ("idle",), Params(), captioned=False))
    return Channels.concatenate(parts), out


def caption_clip(segments: list[Segment], violent: bool, rng: np.random.Generator,
                 heldout: bool = False) -> tuple[list[Caption], list[dict]]:
    """3 to 5 captions; some violent clips are described only by movement, never by name.

    ``heldout`` (val/test clips of a held-out corpus) draws every caption from the held-out phrasing.
    """
    spoken = [s for s in segments if s.captioned]
    words = [SegmentWords(s.action, s.violent, s.params.side if ACTIONS[s.action].sided else None,
                          s.params.count, s.params.speed, s.params.amplitude, s.params.direction) for s in spoken]
    all_implicit = violent and rng.random() < ALL_IMPLICIT_SHARE
    captions, labels = [], []
    n_captions = int(rng.integers(3, 6))
    span_index = int(rng.integers(n_captions)) if len(spoken) > 1 and rng.random() < 0.3 else -1
    for i in range(n_captions):
        implicit = all_implicit or (violent and rng.random() < IMPLICIT_CAPTION_SHARE)
        if i == span_index:
            k = int(rng.integers(len(spoken)))
            seg = spoken[k]
            text = compose_caption([words[k]], implicit, rng, heldout)
            start, end = round(seg.start / FPS, 2), round(seg.end / FPS, 2)
            caption = make_caption(text, start, end)
            is_violent = seg.violent
        else:
            caption = make_caption(compose_caption(words, implicit, rng, heldout))
            is_violent = violent
        captions.append(caption)
        labels.append({"text": caption.text, "start": caption.start, "end": caption.end, "violent": is_violent,
                       "implicit": bool(is_violent and implicit)})
    return captions, labels


MAX_ATTEMPTS = 8


def generate_clip(seed: int, index: int, violent_share: float = 0.1, heldout: bool | None = None) -> Clip:
    """Clip number ``index`` of the corpus with ``seed``.

    ``heldout``: None for one shared phrasing and free action combinations (the version-1 corpus),
    True for a val/test clip of a held-out corpus (held-out phrasing and combinations), False for its
    training clips. A draw that fails a physical check of ``validate`` (rare: an unlucky mix of random
    style and parameters), or whose combination was cut to fit 196 frames onto the other side, is
    redrawn from the next attempt's generator; the label records the attempt.
    """
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, index] + ([attempt] if attempt else []))
        clip = _draw_clip(rng, violent_share, heldout)
        clip.attempt = attempt
        spoken = [s.action for s in clip.segments if s.captioned]
        if fits_partition(spoken, heldout) and not check_clip("", clip.joints, clip.label("")).violations():
            return clip
    raise RuntimeError(f"clip {index} of seed {seed} failed the physical checks {MAX_ATTEMPTS} times")


def _draw_clip(rng: np.random.Generator, violent_share: float, heldout: bool | None) -> Clip:
    style = sample_style(rng)
    violent = bool(rng.random() < violent_share)
    names = sample_actions(rng, violent, heldout)
    channels, segments = build_channels(names, rng, style)
    channels, segments = pad_to_minimum(channels, segments, rng)
    add_style_noise(channels, rng)
    joints = pose_joints(style.body, channels)
    features = joints_to_features(joints).astype(np.float32)
    recovered = features_to_joints(features.astype(np.float64)).astype(np.float32)
    n = features.shape[0]
    for s in segments:
        s.start, s.end = min(s.start, n), min(s.end, n)
    segments = [s for s in segments if s.end > s.start]
    captions, caption_labels = caption_clip(segments, any(s.violent for s in segments), rng, bool(heldout))
    return Clip(features, recovered, captions, caption_labels, segments, style)
