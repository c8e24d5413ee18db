"""Feature normalisation the HumanML3D way: dataset Mean.npy/Std.npy and the models' meta variant.

Two sets of statistics exist: the dataset's ``Mean.npy`` and
``Std.npy`` (per-dim mean, std averaged inside each feature group) and the ``meta/mean.npy``,
``meta/std.npy`` that the official models and evaluator use, where the root dims 0:4 and the foot
contacts get a std divided by ``feat_bias`` = 5 (so they weigh 5x more after normalisation).
De-normalising model output with the dataset Std instead mis-scales root motion and contacts by 5x.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from hmu_demo.motion.features import FEATURE_GROUPS
from hmu_demo.motion.skeleton import FEATURE_DIM

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)

STD_EPS = 1e-8
DATASET_FILES = ("Mean.npy", "Std.npy")  # dataset root
META_FILES = ("mean.npy", "std.npy")  # <checkpoint>/meta/
FEAT_BIAS = 5.0


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Per-dimension ``(x - mean) / std`` and its inverse, for numpy arrays and torch tensors.

    A std below ``STD_EPS`` is used as 1: such a dim is constant in the data it was measured on,
    so it carries no scale to normalise by, and dividing by ~0 would turn float noise (or any
    generated value) into inf/NaN or huge numbers. With 1 the dim is only centred, and
    ``denormalize`` stays the exact inverse of ``normalize``.
    """

    mean: np.ndarray
    std: np.ndarray
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ValueError(f"mean and std must be 1-d of the same length, got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std < 0).any():
            raise ValueError("mean/std must be finite and std non-negative")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def load(cls, folder: str | Path, names: tuple[str, str] | None = None) -> Normalizer:
        """Normalizer from a folder's statistics files (see ``load_statistics``)."""
        return cls(*load_statistics(folder, names))

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def _stats(self, x: ArrayLike) -> tuple:
        """Mean and safe std in x's type, dtype and device (cached per torch device/dtype)."""
        safe = np.where(self.std < STD_EPS, 1.0, self.std)
        if x.shape[-1] != self.dim:
            raise ValueError(f"last dimension {x.shape[-1]} does not match the statistics ({self.dim})")
        if not isinstance(x, torch.Tensor):
            dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
            return self.mean.astype(dtype), safe.astype(dtype)
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        key = (x.device, dtype)
        if key not in self._cache:
            self._cache[key] = (
                torch.as_tensor(self.mean, dtype=dtype, device=x.device),
                torch.as_tensor(safe, dtype=dtype, device=x.device),
            )
        return self._cache[key]

    def normalize(self, x: ArrayLike) -> ArrayLike:
        """(x - mean) / std over the last axis."""
        x = x if isinstance(x, torch.Tensor) else np.asarray(x)
        mean, std = self._stats(x)
        return (x - mean) / std

    def denormalize(self, x: ArrayLike) -> ArrayLike:
        """x * std + mean over the last axis (the inverse of ``normalize``)."""
        x = x if isinstance(x, torch.Tensor) else np.asarray(x)
        mean, std = self._stats(x)
        return x * std + mean


def _merge(count: int, mean: np.ndarray, m2: np.ndarray, data: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Add a batch to running (count, mean, sum of squared deviations) (Chan et al.)."""
    n = data.shape[0]
    batch_mean = data.mean(axis=0)
    batch_m2 = ((data - batch_mean) ** 2).sum(axis=0)
    total = count + n
    delta = batch_mean - mean
    return total, mean + delta * (n / total), m2 + batch_m2 + delta**2 * (count * n / total)


def dataset_statistics(feature_arrays: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's Mean.npy/Std.npy of (T_i, D) feature arrays, float32 (D,) each.

    Mean and (population) std are per dim over all frames of all clips; then the std is replaced by
    its average inside each of the 7 feature groups, so e.g. all 63 RIC dims share one scale.
    Streams the clips in float64 (no giant concatenation). Clips with NaN are skipped with a
    warning, as HumanML3D's script does.
    """
    count, mean, m2, skipped = 0, None, None, 0
    for array in feature_arrays:
        data = np.asarray(array, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] == 0:
            raise ValueError(f"expected (T, D) feature arrays with T >= 1, got {data.shape}")
        if not np.isfinite(data).all():
            skipped += 1
            continue
        if mean is None:
            mean, m2 = np.zeros(data.shape[1]), np.zeros(data.shape[1])
        elif data.shape[1] != mean.shape[0]:
            raise ValueError(f"feature arrays differ in width: {data.shape[1]} vs {mean.shape[0]}")
        count, mean, m2 = _merge(count, mean, m2, data)
    if skipped:
        warnings.warn(f"dataset_statistics skipped {skipped} clip(s) containing NaN/inf", stacklevel=2)
    if mean is None:
        raise ValueError("no usable feature arrays to compute statistics from")
    std = np.sqrt(m2 / count)
    if std.shape[0] == FEATURE_DIM:
        for group in FEATURE_GROUPS.values():
            std[group] = std[group].mean()
    return mean.astype(np.float32), std.astype(np.float32)


def model_statistics(mean: np.ndarray, std: np.ndarray, feat_bias: float = FEAT_BIAS) -> tuple[np.ndarray, np.ndarray]:
    """The official models' meta mean/std (float64): std of root dims 0:4 and contacts / feat_bias."""
    mean = np.asarray(mean, dtype=np.float64).copy()
    std = np.asarray(std, dtype=np.float64).copy()
    if mean.shape != (FEATURE_DIM,) or std.shape != (FEATURE_DIM,):
        raise ValueError(f"expected ({FEATURE_DIM},) statistics, got {mean.shape} and {std.shape}")
    if feat_bias <= 0:
        raise ValueError(f"feat_bias must be positive, got {feat_bias}")
    for name in ("root_rot_velocity", "root_linear_velocity", "root_y", "foot_contact"):
        std[FEATURE_GROUPS[name]] /= feat_bias
    return mean, std


def _resolve(folder: Path, names: tuple[str, str] | None) -> tuple[Path, Path]:
    """The mean/std file pair to read: the given names, else Mean/Std.npy, else mean/std.npy."""
    for pair in [names] if names else [DATASET_FILES, META_FILES]:
        paths = (folder / pair[0], folder / pair[1])
        if all(p.is_file() for p in paths):
            return paths
    tried = [names] if names else [DATASET_FILES, META_FILES]
    raise FileNotFoundError(f"no statistics in {folder}: looked for {' or '.join('+'.join(p) for p in tried)}")


def load_statistics(folder: str | Path, names: tuple[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read (mean, std) from a folder: a dataset root (Mean.npy/Std.npy) or a meta/ folder."""
    mean_path, std_path = _resolve(Path(folder), names)
    mean = np.load(mean_path, allow_pickle=False)
    std = np.load(std_path, allow_pickle=False)
    if mean.ndim != 1 or mean.shape != std.shape:
        raise ValueError(f"{mean_path} and {std_path} must hold 1-d arrays of equal length")
    return mean, std


def save_statistics(
    folder: str | Path, mean: np.ndarray, std: np.ndarray, names: tuple[str, str] = DATASET_FILES
) -> None:
    """Write (mean, std) as ``names`` inside folder (created if needed), keeping their dtypes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / names[0], np.asarray(mean))
    np.save(folder / names[1], np.asarray(std))
