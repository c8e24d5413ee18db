"""RVQ-VAE reconstruction error: MPJPE between the joints of a motion and of its decoded tokens.

Both motions go through the same path (de-normalised 263-d features -> ``features_to_joints``), so
the error measures the tokeniser alone. The published protocol (MoMask's ``calculate_mpjpe``, used
by the works that report RVQ reconstruction MPJPE) aligns every pose by its pelvis before measuring.
The global error (root trajectory included; the features integrate root velocities, so small
velocity errors add up over a clip) comes from the same encode/decode pass, as the second value.
Centimetres, averaged over every joint of every frame of every clip.
Clips are cropped to a multiple of the VQ's downsampling and batched by equal length, so that the
convolutions never see another clip's padding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from hmu_demo.models.layers import evaluating
from hmu_demo.models.rvq import RVQVAE
from hmu_demo.motion.features import features_to_joints
from hmu_demo.motion.normalization import Normalizer

__all__ = ["reconstruction_errors", "reconstruction_mpjpe_cm"]


@torch.no_grad()
def reconstruction_errors(vq: RVQVAE, normalizer: Normalizer, normalized: Sequence[np.ndarray],
                          batch_size: int = 64, layers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip mean joint error in metres for normalised (T, 263) clips, (pelvis-aligned, global),
    from one encode/decode pass; ``layers`` keeps only the first RVQ layers (None: all)."""
    device = next(vq.parameters()).device
    down = vq.cfg.downsample
    groups: dict[int, list[int]] = defaultdict(list)
    for i, clip in enumerate(normalized):
        n = clip.shape[0] // down * down
        if n >= down:
            groups[n].append(i)
    aligned = np.full(len(normalized), np.nan)
    global_ = np.full(len(normalized), np.nan)
    with evaluating(vq):
        for n, members in sorted(groups.items()):
            for s in range(0, len(members), batch_size):
                rows = members[s:s + batch_size]
                x = torch.from_numpy(np.stack([normalized[i][:n] for i in rows])).to(device)
                ids, _ = vq.encode(x)
                if layers is not None:
                    ids = ids[..., :layers]
                recon = vq.forward_decoder(ids)
                truth = features_to_joints(normalizer.denormalize(x.float()))
                pred = features_to_joints(normalizer.denormalize(recon.float()))
                global_[rows] = (truth - pred).norm(dim=-1).mean(dim=(1, 2)).cpu().numpy()
                truth, pred = truth - truth[:, :, :1], pred - pred[:, :, :1]
                aligned[rows] = (truth - pred).norm(dim=-1).mean(dim=(1, 2)).cpu().numpy()
    return aligned, global_


def reconstruction_mpjpe_cm(vq: RVQVAE, normalizer: Normalizer, normalized: Sequence[np.ndarray],
                            batch_size: int = 64) -> tuple[float, float]:
    """(pelvis-aligned, global) MPJPE in cm over all frames of all clips (frame-weighted means)."""
    down = vq.cfg.downsample
    frames = np.array([c.shape[0] // down * down for c in normalized], dtype=np.float64)
    out = []
    for errors in reconstruction_errors(vq, normalizer, normalized, batch_size):
        ok = ~np.isnan(errors)
        if not ok.any():
            raise ValueError("no clip is long enough to reconstruct")
        out.append(float((errors[ok] * frames[ok]).sum() / frames[ok].sum() * 100.0))
    return out[0], out[1]
