"""Measure the physical plausibility of every clip of a HumanML3D-layout folder.

``python -m hmu_demo.data.synth.validate DIR [--json] [--limit N]`` reads ``new_joints/`` (the
joints recovered from the features, i.e. what models are trained on) and checks each clip:

- bones: every bone keeps its length (max deviation from the clip median below 5 mm);
- floor: no joint goes more than 1 cm below the floor, the level the feet stand on;
- sliding: a foot joint in contact (slower than 0.3 m/s and within 3 cm of its lowest height in
  the clip) drifts at most 2 cm horizontally over one contact;
- knees: a bent knee (> 12 degrees) sits in front of its hip-ankle line, never behind it (relative to
  the facing of the pelvis, with 15 degrees of slack for turned-out kicks);
- elbows: a clearly bent elbow (> 30 degrees; the bend plane of a nearly straight arm is noise) flexes toward the front of the upper arm, estimated by
  swinging the hanging arm's front to the arm's current direction; a bend more than 120 degrees
  away from it (more than the humerus can rotate, a cocked throwing arm included) is a hyperextension (arms near vertical, where that front is undefined, are skipped);
- jumps: no joint moves faster than 14 m/s, and no joint's per-frame acceleration exceeds what the
  action's speed implies: 0.5 m/frame^2 (200 m/s^2, the order of a fast strike) at the labelled
  speed 1, scaled by speed squared (a motion played k times faster accelerates k^2 times more);
  a teleport or a snapped pose shows up there;
- balance: while a foot is on the ground and the body is nearly still (centre of mass slower than
  0.4 m/s; walking and running are balanced dynamically, by stepping), the centre of mass stays
  within 15 cm of the support polygon of the feet, or leaves it for at most 0.5 s; frames of actions
  with a seat (``sit_stand`` in labels.jsonl) are not checked.
Exit code 1 when any clip violates a check, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hmu_demo.motion.geometry import normalize, perpendicular
from hmu_demo.motion.quaternion import qbetween, qrot
from hmu_demo.motion.skeleton import FACE_JOINTS, FOOT_JOINTS, FPS, PARENTS

BONE_TOLERANCE = 0.005
FLOOR_TOLERANCE = 0.01
SLIDE_TOLERANCE = 0.02
CONTACT_SPEED = 0.3
CONTACT_HEIGHT = 0.03
MAX_SPEED = 14.0
MAX_ACCELERATION = 0.5
BALANCE_MARGIN = 0.15
BALANCE_FRAMES = 10
STILL_SPEED = 0.4
KNEE_BEND = np.radians(12.0)
ELBOW_BEND = np.radians(30.0)
ELBOW_LIMIT = np.cos(np.radians(120.0))
ELBOW_FOLD = np.radians(155.0)
SEATED_ACTIONS = frozenset({"sit_stand"})
# Rough segment masses (share of body weight) per joint, for the centre of mass.
MASS = np.array([0.14, 0.1, 0.1, 0.08, 0.045, 0.045, 0.08, 0.015, 0.015, 0.08, 0.01, 0.01, 0.03, 0.01, 0.01,
                 0.07, 0.028, 0.028, 0.016, 0.016, 0.006, 0.006])
MASS = MASS / MASS.sum()


@dataclass
class ClipReport:
    id: str
    frames: int
    bone_deviation: float
    floor_penetration: float
    max_slide: float
    knee_backward: float
    elbow_backward: float
    max_speed: float
    max_acceleration: float  # relative to the limit at this frame's speed: above 1 is a violation
    longest_unbalanced: float

    def violations(self) -> list[str]:
        out = []
        if self.bone_deviation > BONE_TOLERANCE:
            out.append(f"bone length varies by {self.bone_deviation * 1000:.1f} mm")
        if self.floor_penetration > FLOOR_TOLERANCE:
            out.append(f"joint {self.floor_penetration * 100:.1f} cm below the floor")
        if self.max_slide > SLIDE_TOLERANCE:
            out.append(f"foot slides {self.max_slide * 100:.1f} cm during contact")
        if self.knee_backward > 0:
            out.append(f"knee bends backward ({self.knee_backward:.0f} frames)")
        if self.elbow_backward > 0:
            out.append(f"elbow hyperextended or folded ({self.elbow_backward:.0f} frames)")
        if self.max_speed > MAX_SPEED:
            out.append(f"joint speed {self.max_speed:.1f} m/s")
        if self.max_acceleration > 1.0:
            out.append(f"per-frame jump {self.max_acceleration:.2f} times what the action's speed implies")
        if self.longest_unbalanced > BALANCE_FRAMES / FPS:
            out.append(f"off balance for {self.longest_unbalanced:.2f} s")
        return out


def bone_deviation(joints: np.ndarray) -> float:
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1)
    return float(np.abs(lengths - np.median(lengths, axis=0)).max())


def contacts(joints: np.ndarray) -> np.ndarray:
    """(T, 4) bool: foot joint (L ankle, L toe, R ankle, R toe order of FOOT_JOINTS) is on the ground."""
    feet = joints[:, list(FOOT_JOINTS)]
    velocity = np.diff(feet, axis=0, append=feet[-1:]) * FPS
    velocity[-1] = velocity[-2] if len(velocity) > 1 else 0
    slow = np.linalg.norm(velocity, axis=-1) < CONTACT_SPEED
    low = feet[..., 1] < feet[..., 1].min(axis=0) + CONTACT_HEIGHT
    return slow & low


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(int)))
    return list(zip(edges[::2], edges[1::2]))


def max_slide(joints: np.ndarray, contact: np.ndarray) -> float:
    feet = joints[:, list(FOOT_JOINTS)][..., [0, 2]]
    worst = 0.0
    for k in range(feet.shape[1]):
        for start, end in runs(contact[:, k]):
            drift = np.linalg.norm(feet[start:end, k] - feet[start, k], axis=-1).max()
            worst = max(worst, float(drift))
    return worst


def floor_penetration(joints: np.ndarray, contact: np.ndarray) -> float:
    heights = joints[:, list(FOOT_JOINTS), 1]
    floor = heights[contact].min() if contact.any() else heights.min()
    return float(max(floor - joints[..., 1].min(), 0.0))


def pelvis_forward(joints: np.ndarray) -> np.ndarray:
    """Per-frame facing of the pelvis alone (knees turn with the hips, not the shoulders)."""
    across = joints[:, FACE_JOINTS[0]] - joints[:, FACE_JOINTS[1]]
    return normalize(np.cross(np.array([0.0, 1.0, 0.0]), across))


def body_frames(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame forward (from hips and shoulders) and up directions of the trunk."""
    r_hip, l_hip, r_sh, l_sh = FACE_JOINTS
    across = joints[:, r_hip] - joints[:, l_hip] + joints[:, r_sh] - joints[:, l_sh]
    up = np.array([0.0, 1.0, 0.0])
    forward = normalize(np.cross(up, across))
    chest_up = normalize(joints[:, 12] - joints[:, 9])
    return forward, chest_up


def bend(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bend angle at b of the chain a-b-c, the unit bend direction, and the unit first segment."""
    upper = normalize(b - a)
    lower = normalize(c - b)
    angle = np.arccos(np.clip(np.sum(upper * lower, -1), -1, 1))
    toward = lower - np.sum(lower * upper, -1, keepdims=True) * upper
    return angle, normalize(toward), upper


def knee_backward_frames(joints: np.ndarray, forward: np.ndarray) -> int:
    """Frames where a bent knee sits behind its hip-ankle line (relative to the body's facing)."""
    count = 0
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        angle, _, _ = bend(joints[:, hip], joints[:, knee], joints[:, ankle])
        line = normalize(joints[:, ankle] - joints[:, hip])
        offset = normalize(perpendicular(joints[:, knee] - joints[:, hip], line))
        count += int(np.sum((angle > KNEE_BEND) & (np.sum(offset * forward, -1) < -0.25)))
    return count


def swing(from_dir: np.ndarray, to_dir: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Rotate ``vector`` by the shortest-arc rotation taking ``from_dir`` onto ``to_dir``."""
    return qrot(qbetween(from_dir, to_dir), vector)


def elbow_backward_frames(joints: np.ndarray, forward: np.ndarray, chest_up: np.ndarray) -> int:
    count = 0
    chest_forward = normalize(forward - np.sum(forward * chest_up, -1, keepdims=True) * chest_up)
    for shoulder, elbow, wrist in ((16, 18, 20), (17, 19, 21)):
        angle, toward, upper = bend(joints[:, shoulder], joints[:, elbow], joints[:, wrist])
        front = swing(-chest_up, upper, chest_forward)
        defined = np.sum(upper * chest_up, -1) < np.cos(np.radians(30.0))
        bad = ((angle > ELBOW_BEND) & defined & (np.sum(toward * front, -1) < ELBOW_LIMIT)) | (angle > ELBOW_FOLD)
        count += int(bad.sum())
    return count


def _cross2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def distance_to_support(points: np.ndarray, support: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ground-plane distance from ``points`` (T, 2) to the convex hull of the masked ``support`` (T, K, 2).

    With K <= 4 points: outside the hull, the nearest hull point lies on a segment between two
    support points (the hull's edges are among all pairs, and no pair segment leaves the hull);
    inside means inside some triangle of three support points (Caratheodory).
    """
    T, K, _ = support.shape
    best = np.full(T, np.inf)
    for i in range(K):
        single = np.linalg.norm(points - support[:, i], axis=-1)
        best = np.where(mask[:, i], np.minimum(best, single), best)
        for j in range(i + 1, K):
            a, b = support[:, i], support[:, j]
            ab = b - a
            t = np.clip(np.sum((points - a) * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-12), 0, 1)
            d = np.linalg.norm(points - (a + t[:, None] * ab), axis=-1)
            best = np.where(mask[:, i] & mask[:, j], np.minimum(best, d), best)
    for i in range(K):
        for j in range(i + 1, K):
            for k in range(j + 1, K):
                a, b, c = support[:, i], support[:, j], support[:, k]
                s1, s2, s3 = _cross2(b - a, points - a), _cross2(c - b, points - b), _cross2(a - c, points - c)
                inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
                best = np.where(mask[:, i] & mask[:, j] & mask[:, k] & inside, 0.0, best)
    return best


def longest_unbalanced(joints: np.ndarray, contact: np.ndarray, exempt: np.ndarray) -> float:
    com = np.einsum("tjc,j->tc", joints, MASS)[:, [0, 2]]
    speed = np.linalg.norm(np.gradient(com, axis=0), axis=-1) * FPS if len(com) > 1 else np.zeros(len(com))
    feet = joints[:, list(FOOT_JOINTS)][..., [0, 2]]
    checked = ~exempt & contact.any(axis=1) & (speed <= STILL_SPEED)
    off = checked & (distance_to_support(com, feet, contact) > BALANCE_MARGIN)
    longest = max((end - start for start, end in runs(off)), default=0)
    return longest / FPS


def check_clip(clip_id: str, joints: np.ndarray, label: dict | None = None) -> ClipReport:
    joints = np.asarray(joints, dtype=np.float64)
    contact = contacts(joints)
    forward, chest_up = body_frames(joints)
    exempt = np.zeros(len(joints), dtype=bool)
    speed = np.ones(len(joints))
    for segment in (label or {}).get("segments", []):
        if segment.get("action") in SEATED_ACTIONS:
            exempt[segment["start"]:segment["end"]] = True
        speed[segment["start"]:segment["end"]] = max(float(segment.get("speed", 1.0)), 1.0)
    velocity = np.diff(joints, axis=0)
    acceleration = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).max(axis=-1)
    # A frame near a boundary may belong to either neighbour: allow the faster one.
    allowed = MAX_ACCELERATION * np.maximum.reduce([speed[:-2], speed[1:-1], speed[2:]]) ** 2
    return ClipReport(
        id=clip_id, frames=len(joints), bone_deviation=bone_deviation(joints),
        floor_penetration=floor_penetration(joints, contact), max_slide=max_slide(joints, contact),
        knee_backward=knee_backward_frames(joints, pelvis_forward(joints)),
        elbow_backward=elbow_backward_frames(joints, forward, chest_up),
        max_speed=float(np.linalg.norm(velocity, axis=-1).max() * FPS) if len(velocity) else 0.0,
        max_acceleration=float((acceleration / allowed).max()) if len(acceleration) else 0.0,
        longest_unbalanced=longest_unbalanced(joints, contact, exempt),
    )


def load_labels(root: Path) -> dict[str, dict]:
    path = root / "labels.jsonl"
    if not path.is_file():
        return {}
    return {entry["id"]: entry for entry in map(json.loads, path.read_text().splitlines()) if entry}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.data.synth.validate",
                                     description="Check the physical plausibility of every clip of a data set.")
    parser.add_argument("data", type=Path, help="HumanML3D-layout folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--limit", type=int, default=None, help="check only the first N clips")
    args = parser.parse_args(argv)
    folder = args.data / "new_joints"
    if not folder.is_dir():
        print(f"error: {folder} does not exist", file=sys.stderr)
        return 2
    files = sorted(folder.glob("*.npy"))[: args.limit]
    if not files:
        print(f"error: {folder} holds no .npy files", file=sys.stderr)
        return 2
    labels = load_labels(args.data)
    reports = []
    for path in files:
        try:
            joints = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            print(f"error: cannot read {path}: {error}", file=sys.stderr)
            return 2
        if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 3:
            print(f"error: {path} has shape {joints.shape}, expected (T >= 3, 22, 3)", file=sys.stderr)
            return 2
        reports.append(check_clip(path.stem, joints, labels.get(path.stem)))
    failed = {r.id: r.violations() for r in reports if r.violations()}
    worst = {field: max(getattr(r, field) for r in reports) for field in asdict(reports[0]) if field not in ("id", "frames")}
    if args.json:
        print(json.dumps({"clips": len(reports), "failed": len(failed), "worst": worst,
                          "violations": failed}, indent=None))
    else:
        print(f"checked {len(reports)} clips: {len(reports) - len(failed)} pass, {len(failed)} fail")
        for name, value in worst.items():
            print(f"  worst {name:20s} {value:.4f}")
        for clip, problems in list(failed.items())[:50]:
            print(f"  {clip}: {'; '.join(problems)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
