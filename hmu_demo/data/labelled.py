"""Labelled clips (SynthMotion's ``labels.jsonl``): a split's joints with their labels, per-frame labels.

A label entry lists the clip's segments (``action``, ``start``, ``end`` frames, ``violent``); the
frames no segment covers, and the standing padding the corpus adds around short clips, are
:data:`STAND`. This is what the judge trains on and is measured against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hmu_demo.data.humanml3d import DatasetError, MotionDataset

__all__ = ["STAND", "frame_labels", "load_labelled_split"]

#: The label of standing padding (and of frames no segment covers).
STAND = "stand"


def frame_labels(label: dict, n_frames: int, actions: list[str], violent_actions: set[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame action index (into ``actions``) and violence (0/1) of a labels.jsonl entry; a segment
    without a ``violent`` flag is violent when its action is in ``violent_actions``."""
    index = {a: i for i, a in enumerate(actions)}
    act = np.full(n_frames, index.get(STAND, 0), dtype=np.int64)
    vio = np.zeros(n_frames, dtype=np.float32)
    for seg in label.get("segments", []):
        s, e = max(0, int(seg["start"])), min(n_frames, int(seg["end"]))
        if e <= s:
            continue
        name = seg["action"]
        if name in index:
            act[s:e] = index[name]
        if seg.get("violent", name in violent_actions):
            vio[s:e] = 1.0
    return act, vio


def load_labelled_split(root: Path, split: str, limit: int | None = None
                        ) -> tuple[list[str], list[np.ndarray], list[dict]]:
    """(ids, joints list, label list) of a split of a labelled corpus (the first ``limit`` clips when given)."""
    ds = MotionDataset(root)
    labels = ds.labels()
    if labels is None:
        raise DatasetError(f"{root} has no labels.jsonl: the judge needs a labelled (SynthMotion) corpus")
    ids = ds.split_ids(split)
    if limit:
        ids = ids[:limit]
    joints = [ds.joints(i) for i in ids]
    missing = [i for i in ids if i not in labels]
    if missing:
        raise DatasetError(f"{root}/labels.jsonl has no entry for {len(missing)} ids of split {split} "
                           f"(first: {missing[0]})")
    return ids, joints, [labels[i] for i in ids]
