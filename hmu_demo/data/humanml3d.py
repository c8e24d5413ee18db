"""One reader for data sets in the HumanML3D folder layout (HumanML3D, Motion-X, SynthMotion).

Layout (as the official HumanML3D release; docs/data.md)::

    root/new_joint_vecs/<id>.npy   (T, 263) float32 features
    root/new_joints/<id>.npy       (T, 22, 3) joint positions (optional)
    root/texts/<id>.txt            caption lines (captions.py)
    root/Mean.npy, root/Std.npy    (263,) statistics
    root/{train,val,test,train_val,all}.txt, root/kw_splits/*.txt   one id per line
    root/labels.jsonl              optional ground truth (SynthMotion only)

Nothing is read at construction beyond checking the two required folders, so opening the
29k-motion HumanML3D costs nothing. Every problem with a file raises `DatasetError`, whose message
names the file and what is wrong with it, because a bare numpy/IndexError deep in a training loop
tells the user nothing about which of 30,000 files to fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmu_demo.data.captions import Caption, parse_caption_line
from hmu_demo.data.textfile import numbered_lines
from hmu_demo.motion.skeleton import FEATURE_DIM, NUM_JOINTS

__all__ = ["DatasetError", "MotionRecord", "MotionDataset", "REQUIRED_ENTRIES"]

# Entries without which a folder is not a HumanML3D-layout data set at all.
REQUIRED_ENTRIES: tuple[str, ...] = ("texts/", "new_joint_vecs/")
_STANDARD_SPLITS = ("train", "val", "test", "train_val", "all")


class DatasetError(ValueError):
    """A data set folder or one of its files is missing or corrupt (message names the path)."""


@dataclass(frozen=True, eq=False)
class MotionRecord:
    """One motion of a split: features (T, 263), optional joints (T, 22, 3) and its captions."""

    id: str
    features: np.ndarray
    joints: np.ndarray | None
    captions: list[Caption]


class MotionDataset:
    """Lazy reader of a HumanML3D-layout folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise DatasetError(f"data folder {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"data folder {self.root} is not a directory")
        missing = [entry for entry in REQUIRED_ENTRIES if not (self.root / entry).is_dir()]
        if missing:
            raise DatasetError(
                f"{self.root} is not a HumanML3D-layout folder: missing {', '.join(missing)} "
                "(expected texts/, new_joint_vecs/, new_joints/, Mean.npy, Std.npy and split files "
                "such as train_val.txt, test.txt)"
            )
        self._labels: dict[str, dict] | None = None
        self._labels_loaded = False

    def __repr__(self) -> str:
        return f"MotionDataset({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------

    @property
    def texts_dir(self) -> Path:
        return self.root / "texts"

    def text_path(self, motion_id: str) -> Path:
        return self.root / "texts" / f"{motion_id}.txt"

    def features_path(self, motion_id: str) -> Path:
        return self.root / "new_joint_vecs" / f"{motion_id}.npy"

    def joints_path(self, motion_id: str) -> Path:
        return self.root / "new_joints" / f"{motion_id}.npy"

    def split_path(self, name: str | os.PathLike[str]) -> Path:
        """Where split ``name`` lives: ``train`` -> root/train.txt; a path is taken relative to root."""
        text = os.fspath(name)
        if not text.strip():
            raise DatasetError("split name is empty")
        path = Path(text)
        if path.suffix != ".txt":
            path = path.with_name(path.name + ".txt")
        return path if path.is_absolute() else self.root / path

    def has_split(self, name: str | os.PathLike[str]) -> bool:
        return self.split_path(name).is_file()

    def has_motion(self, motion_id: str) -> bool:
        """True when the motion has both its caption file and its feature file."""
        return self.text_path(motion_id).is_file() and self.features_path(motion_id).is_file()

    # -- splits --------------------------------------------------------------------------------

    def split_ids(self, name: str | os.PathLike[str], check_files: bool = False) -> list[str]:
        """Ids listed in a split file, in file order (blank lines skipped).

        ``name`` is a standard split (train, val, test, train_val, all) or a split file path
        relative to the root (``kw_splits/test-w-violence.txt``, ``.txt`` optional) or absolute.
        With ``check_files`` every id must have its caption and feature files.
        """
        path = self.split_path(name)
        if not path.is_file():
            known = [s for s in _STANDARD_SPLITS if (self.root / f"{s}.txt").is_file()]
            raise DatasetError(
                f"split file {path} does not exist (split files present: {', '.join(known) or 'none'})"
            )
        ids = [line.strip() for _, line in numbered_lines(path, DatasetError, "split file")]
        if check_files:
            for motion_id in ids:
                self._check_motion_files(motion_id, path)
        return ids

    def _check_motion_files(self, motion_id: str, split_path: Path | None) -> None:
        where = f" (listed in {split_path})" if split_path is not None else ""
        for path in (self.text_path(motion_id), self.features_path(motion_id)):
            if not path.is_file():
                raise DatasetError(f"motion {motion_id!r}{where} has no file {path}")

    # -- captions ------------------------------------------------------------------------------

    def caption_lines(self, motion_id: str) -> list[str]:
        """The raw, non-blank lines of ``texts/<id>.txt`` (each validated as a caption line).

        Raw lines are what the official keyword split greps, tokens and times included.
        """
        return [line for line, _ in self._read_captions(motion_id)]

    def captions(self, motion_id: str) -> list[Caption]:
        """Parsed captions of a motion, in file order."""
        return [caption for _, caption in self._read_captions(motion_id)]

    def _read_captions(self, motion_id: str) -> list[tuple[str, Caption]]:
        path = self.text_path(motion_id)
        if not path.is_file():
            raise DatasetError(f"caption file {path} for motion {motion_id!r} does not exist")
        result: list[tuple[str, Caption]] = []
        for number, line in numbered_lines(path, DatasetError, "caption file"):
            try:
                result.append((line, parse_caption_line(line)))
            except ValueError as exc:
                raise DatasetError(f"caption file {path}, line {number}: {exc}") from exc
        if not result:
            raise DatasetError(f"caption file {path} is empty (every motion needs at least one caption)")
        return result

    # -- arrays --------------------------------------------------------------------------------

    def features(self, motion_id: str) -> np.ndarray:
        """(T, 263) float32 feature vectors of a motion."""
        return self._load_array(self.features_path(motion_id), (FEATURE_DIM,), "(T, 263)", motion_id)

    def joints(self, motion_id: str) -> np.ndarray:
        """(T, 22, 3) float32 joint positions of a motion."""
        folder = self.root / "new_joints"
        if not folder.is_dir():
            raise DatasetError(f"{folder} does not exist: this data set has no joint positions")
        return self._load_array(self.joints_path(motion_id), (NUM_JOINTS, 3), "(T, 22, 3)", motion_id)

    @staticmethod
    def _load_array(path: Path, tail: tuple[int, ...], expected: str, motion_id: str) -> np.ndarray:
        if not path.is_file():
            raise DatasetError(f"file {path} for motion {motion_id!r} does not exist")
        array = _load_npy(path)
        if array.ndim != 1 + len(tail) or array.shape[1:] != tail:
            raise DatasetError(f"{path} has shape {array.shape}, expected {expected}")
        if array.shape[0] == 0:
            raise DatasetError(f"{path} has no frames (shape {array.shape})")
        if not np.isfinite(array).all():
            raise DatasetError(f"{path} contains NaN or infinite values")
        return array

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Dataset ``(mean, std)``, each (263,) float32, from Mean.npy / Std.npy."""
        result = []
        for name in ("Mean.npy", "Std.npy"):
            path = self.root / name
            if not path.is_file():
                raise DatasetError(f"statistics file {path} does not exist")
            array = _load_npy(path)
            if array.shape != (FEATURE_DIM,):
                raise DatasetError(f"{path} has shape {array.shape}, expected ({FEATURE_DIM},)")
            if not np.isfinite(array).all():
                raise DatasetError(f"{path} contains NaN or infinite values")
            result.append(array)
        mean, std = result
        return mean, std

    # -- labels --------------------------------------------------------------------------------

    @property
    def labels_path(self) -> Path:
        return self.root / "labels.jsonl"

    def labels(self) -> dict[str, dict] | None:
        """Ground-truth labels by id from ``labels.jsonl`` (one JSON object per line), or None.

        Only generated corpora (SynthMotion) have them; read once and cached.
        """
        if not self._labels_loaded:
            self._labels = _read_labels(self.labels_path) if self.labels_path.exists() else None
            self._labels_loaded = True
        return self._labels

    # -- records -------------------------------------------------------------------------------

    def record(self, motion_id: str, with_joints: bool = False) -> MotionRecord:
        """Everything about one motion (features, captions, joints when asked)."""
        return MotionRecord(
            id=motion_id,
            features=self.features(motion_id),
            joints=self.joints(motion_id) if with_joints else None,
            captions=self.captions(motion_id),
        )

    def records(self, split: str | os.PathLike[str], with_joints: bool = False) -> Iterator[MotionRecord]:
        """Lazily yield the motions of a split; a listed id without files raises DatasetError."""
        split_file = self.split_path(split)
        for motion_id in self.split_ids(split):
            self._check_motion_files(motion_id, split_file)
            yield self.record(motion_id, with_joints=with_joints)


def _load_npy(path: Path) -> np.ndarray:
    """np.load without pickles, every failure turned into a DatasetError naming the file."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"{path} is not a single .npy array")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DatasetError(f"{path} has dtype {array.dtype}, expected real numbers")
    return array.astype(np.float32, copy=False)


def _read_labels(path: Path) -> dict[str, dict]:
    labels: dict[str, dict] = {}
    for number, line in numbered_lines(path, DatasetError, "labels file"):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"labels file {path}, line {number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise DatasetError(f"labels file {path}, line {number}: expected an object with a string \"id\"")
        if entry["id"] in labels:
            raise DatasetError(f"labels file {path}, line {number}: duplicate id {entry['id']!r}")
        labels[entry["id"]] = entry
    return labels
