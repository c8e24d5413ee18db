"""How well a judge agrees with labelled clips: what its trainer validates by and its CLI reports.

Clip level: violent/safe accuracy, recall and precision at the judge's threshold; segment level:
action top-1 (the majority of per-frame argmax over each labelled segment, "stand" excluded); frame
level: per-frame action accuracy. :func:`best_threshold` picks the threshold a checkpoint ships with.
"""

from __future__ import annotations

import numpy as np

from hmu_demo.data.labelled import STAND, frame_labels
from hmu_demo.models.judge.scoring import Judge

__all__ = ["best_threshold", "evaluate", "true_runs"]


def evaluate(judge: Judge, joints: list[np.ndarray], labels: list[dict]) -> dict:
    """Clip violent/safe accuracy, segment/clip/frame action accuracy, per-class weak spots."""
    results = judge.score(joints)
    truth_v = np.array([bool(l["violent"]) for l in labels])
    pred_v = np.array([r.violent for r in results])
    scores = np.array([r.violence for r in results])
    seg_total: dict[str, int] = {}
    seg_right: dict[str, int] = {}
    frame_right = frame_total = clip_hit = 0
    aidx = {a: i for i, a in enumerate(judge.actions)}
    for r, l, j in zip(results, labels, joints):
        n = j.shape[0]
        frames = np.array([aidx[a] for a in r.frame_actions])
        act, _ = frame_labels(l, n, judge.actions, judge.violent_actions)
        frame_right += int((frames == act).sum())
        frame_total += n
        names = {s["action"] for s in l["segments"] if s["action"] != STAND}
        clip_hit += int(r.action in names)
        for seg in l["segments"]:
            if seg["action"] == STAND or seg["end"] <= seg["start"]:
                continue
            s, e = int(seg["start"]), min(n, int(seg["end"]))
            votes = np.bincount(frames[s:e], minlength=len(judge.actions)).astype(float)
            if STAND in aidx:
                votes[aidx[STAND]] = -1.0
            pred = judge.actions[int(votes.argmax())]
            seg_total[seg["action"]] = seg_total.get(seg["action"], 0) + 1
            seg_right[seg["action"]] = seg_right.get(seg["action"], 0) + int(pred == seg["action"])
    n_seg = sum(seg_total.values())
    per_class = {a: round(seg_right[a] / seg_total[a], 4) for a in sorted(seg_total)}
    weak = sorted(per_class.items(), key=lambda kv: kv[1])[:6]
    tp = int((pred_v & truth_v).sum())
    out = {
        "violent_accuracy": float((pred_v == truth_v).mean()) if len(labels) else float("nan"),
        "action_top1": sum(seg_right.values()) / n_seg if n_seg else float("nan"),
        "action_top1_definition": "per labelled segment ('stand' padding excluded): majority of per-frame argmax",
        "clip_action_hit": clip_hit / len(labels) if labels else float("nan"),
        "frame_action_accuracy": frame_right / frame_total if frame_total else float("nan"),
        "violent_recall": tp / max(1, int(truth_v.sum())),
        "violent_precision": tp / max(1, int(pred_v.sum())),
        "clips": len(labels),
        "violent_clips": int(truth_v.sum()),
        "safe_clips": int((~truth_v).sum()),
        "segments": n_seg,
        "threshold": judge.threshold,
        "weakest_actions": dict(weak),
        "per_action_top1": per_class,
    }
    out["_scores"] = scores
    return out


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of consecutive True values, in order: where a grid search's
    best scores lie, so a fit can take the middle of the widest run instead of its edge."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """Threshold maximising accuracy: the middle of the widest interval of best thresholds.

    Returns 0.5 when there is nothing to fit (one class only).
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    if len(scores) == 0 or truth.all() or (~truth).all():
        return 0.5
    cands = np.unique(np.concatenate([scores, [0.0, 1.0]]))
    mids = (cands[:-1] + cands[1:]) / 2
    acc = np.array([((scores >= t) == truth).mean() for t in mids])
    span, pick = -1.0, 0.5
    for first, last in true_runs(acc == acc.max()):   # runs of consecutive best intervals
        lo, hi = cands[first], cands[last + 1]
        if hi - lo > span:
            span, pick = hi - lo, (lo + hi) / 2
    return float(pick)
