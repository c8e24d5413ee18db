"""The embedded text-motion evaluator: the T2M evaluator's motion design, a MiniLM text side.

The official evaluator (Guo et al. 2022) was trained on HumanML3D, so its numbers say nothing about
the SynthMotion world the embedded models live in. This one keeps its motion side (movement
convolutions T -> T/4, then a BiGRU with a learned initial state and an MLP head, smaller sizes)
and replaces the GloVe + part-of-speech GRU by a small MLP on the 384-d MiniLM sentence embedding
(the text encoder every embedded model already loads, so it costs no extra weights). Both towers
end in the same ``dim``-d space; metrics use Euclidean distances there, as for the official one.

Trained contrastively on SynthMotion (``python -m hmu_demo.train.evaluator``), shipped in
``checkpoints/evaluator``: ``evaluator.safetensors`` (weights: ``movement_encoder.*``,
``motion_encoder.*``, ``text_encoder.*``) + ``evaluator.json`` (sizes, the corpus mean/std it
normalises with, how it was trained and its R-precision on real test clips).

Caveat printed with its numbers: its text side and the generators' conditioning share the MiniLM
embedding, as CLIP-based evaluators share CLIP with CLIP-conditioned generators.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from hmu_demo.atomic import atomic_path, write_text
from hmu_demo.config import CHECKPOINTS_DIR, ConfigBase
from hmu_demo.data.captions import Caption
from hmu_demo.models.evaluators.base import EvaluatorError, TextMotionEvaluator
from hmu_demo.models.evaluators.nets import MotionEncoderBiGRUCo, MovementConvEncoder
from hmu_demo.models.text import text_encoder as make_text_encoder
from hmu_demo.motion.skeleton import MAX_FRAMES

__all__ = ["EmbeddedEvaluator", "EvaluatorConfig", "EvaluatorNet", "SentenceTextHead", "DEFAULT_EVALUATOR",
           "WEIGHTS_FILE", "CONFIG_FILE", "pad_motions", "UNIT", "PAD_FRAMES"]

DEFAULT_EVALUATOR = CHECKPOINTS_DIR / "evaluator"
WEIGHTS_FILE = "evaluator.safetensors"
CONFIG_FILE = "evaluator.json"
CONTACT_DIMS = 4
#: temporal stride of the movement encoder: motions are cut to a multiple of it
UNIT = 4
#: motions are zero-padded to this many frames (the protocol's longest), see :func:`pad_motions`
PAD_FRAMES = MAX_FRAMES


@dataclass(frozen=True)
class EvaluatorConfig(ConfigBase):
    """Sizes of the embedded evaluator (the official one: 259/512/512, 512/1024/512)."""

    pose_dim: int = 263             # HumanML3D features per frame (the last 4 are foot contacts)
    movement_hidden: int = 256      # movement convolutions: hidden channels ...
    movement_dim: int = 256         # ... and movement code size
    motion_hidden: int = 256        # motion BiGRU state
    text_dim: int = 384             # the sentence embedding (MiniLM)
    text_hidden: int = 256          # text head's hidden layer
    dim: int = 128                  # the joint embedding space
    text_encoder: str = "minilm"


class SentenceTextHead(nn.Module):
    """Sentence embedding -> joint space: Linear -> LayerNorm -> LeakyReLU -> Linear (the BiGRU heads' shape)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.output_net = nn.Sequential(nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2),
                                        nn.Linear(hidden, out_dim))

    def forward(self, sentence: Tensor) -> Tensor:
        return self.output_net(sentence)


class EvaluatorNet(nn.Module):
    """The three towers; motion input is normalised features without the contact channels."""

    def __init__(self, cfg: EvaluatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.movement_encoder = MovementConvEncoder(cfg.pose_dim - CONTACT_DIMS, cfg.movement_hidden, cfg.movement_dim)
        self.motion_encoder = MotionEncoderBiGRUCo(cfg.movement_dim, cfg.motion_hidden, cfg.dim)
        self.text_encoder = SentenceTextHead(cfg.text_dim, cfg.text_hidden, cfg.dim)

    def encode_motion(self, normalised: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, pose_dim) normalised, padded; lengths in frames (multiples of UNIT)."""
        movements = self.movement_encoder(normalised[..., : self.cfg.pose_dim - CONTACT_DIMS])
        return self.motion_encoder(movements, lengths // UNIT)

    def encode_text(self, sentence: Tensor) -> Tensor:
        return self.text_encoder(sentence)


def pad_motions(features: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray
                ) -> tuple[Tensor, Tensor]:
    """Normalise, cut each motion to a multiple of UNIT frames and zero-pad to PAD_FRAMES (or the
    longest) -> ((B, T, D), lengths).

    A fixed pad length keeps an embedding independent of its batch: the movement encoder's last
    code sees the convolution of the padding past the motion's end, which would otherwise differ
    between the longest motion of a batch and the others.
    """
    clips = []
    for i, f in enumerate(features):
        f = np.asarray(f, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != mean.shape[0]:
            raise ValueError(f"motion {i} must have shape (T, {mean.shape[0]}), got {f.shape}")
        n = f.shape[0] // UNIT * UNIT
        if n < UNIT:
            raise ValueError(f"motion {i} has {f.shape[0]} frames; the evaluator needs at least {UNIT}")
        clips.append((f[:n] - mean) / std)
    lengths = torch.tensor([c.shape[0] for c in clips], dtype=torch.long)
    out = torch.zeros(len(clips), max(PAD_FRAMES, int(lengths.max())), mean.shape[0])
    for i, c in enumerate(clips):
        out[i, : c.shape[0]] = torch.from_numpy(c)
    return out, lengths


class EmbeddedEvaluator(TextMotionEvaluator):
    """The shipped SynthMotion evaluator (see the module docstring)."""

    name = "embedded"

    def __init__(self, net: EvaluatorNet, mean: np.ndarray, std: np.ndarray, info: dict | None = None,
                 folder: Path | None = None, device: str | torch.device = "cpu", text_encoder=None) -> None:
        self.net = net.to(device).eval()
        self.cfg = net.cfg
        self.dim = net.cfg.dim
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.info = info or {}
        self.folder = folder
        self.device = torch.device(device)
        # a caller's encoder of the same kind (e.g. the generators' cached one) is shared, another kind is not used
        same_kind = text_encoder is not None and getattr(text_encoder, "name", None) == net.cfg.text_encoder
        self._text_encoder = text_encoder if same_kind else None

    @property
    def text_encoder(self):
        if self._text_encoder is None:
            self._text_encoder = make_text_encoder(self.cfg.text_encoder, device=self.device)
        return self._text_encoder

    # -- files ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | Path = DEFAULT_EVALUATOR, device: str | torch.device = "cpu",
             text_encoder=None) -> "EmbeddedEvaluator":
        folder = Path(folder)
        cfg_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for path in (cfg_path, weights_path):
            if not path.is_file():
                raise EvaluatorError(f"no evaluator file {path} (train one: python -m hmu_demo.train.evaluator)")
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg = EvaluatorConfig.from_dict(meta["config"])
            mean = np.asarray(meta["mean"], dtype=np.float32)
            std = np.asarray(meta["std"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as err:
            raise EvaluatorError(f"{cfg_path} is not an evaluator config: {type(err).__name__}: {err}") from None
        if mean.shape != (cfg.pose_dim,) or std.shape != (cfg.pose_dim,) or not (std > 0).all():
            raise EvaluatorError(f"{cfg_path}: mean/std must be ({cfg.pose_dim},) with std > 0")
        net = EvaluatorNet(cfg)
        try:
            state = load_file(str(weights_path))
            net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except (SafetensorError, RuntimeError, OSError) as err:
            raise EvaluatorError(f"{weights_path} does not hold this evaluator's weights: "
                                 f"{str(err).splitlines()[0]}") from None
        return cls(net, mean, std, meta.get("info", {}), folder, device, text_encoder)

    def save(self, folder: str | Path, info: dict | None = None) -> None:
        """Weights (float32) and config, each written atomically; ``info`` replaces the stored one."""
        folder = Path(folder)
        if info is not None:
            self.info = info
        state = {k: v.detach().cpu().float().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        meta = {"format": "hmu-evaluator", "version": 1, "config": self.cfg.to_dict(),
                "mean": self.mean.tolist(), "std": self.std.tolist(), "info": self.info}
        write_text(folder / CONFIG_FILE, json.dumps(meta, indent=1) + "\n")

    # -- embeddings ---------------------------------------------------------------------------------
    def describe(self) -> str:
        where = str(self.folder) if self.folder is not None else "in memory"
        test = self.info.get("test", {})
        r1 = test.get("r_precision_top1")
        bound = f"; its R@1 on real test clips is {r1:.3f}" if isinstance(r1, float) else ""
        return (f"embedded evaluator ({where}): T2M motion design + MiniLM text head, {self.dim}-d, trained "
                f"contrastively on SynthMotion{bound}")

    @torch.no_grad()
    def embed_sentences(self, sentences: Tensor, batch_size: int = 1024) -> np.ndarray:
        """Text embeddings from precomputed MiniLM sentence embeddings (N, 384)."""
        out = [self.net.encode_text(sentences[i:i + batch_size].to(self.device, torch.float32)).cpu()
               for i in range(0, sentences.shape[0], batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, self.dim))

    def embed_texts(self, captions: Sequence[Caption]) -> np.ndarray:
        texts = [c.text if isinstance(c, Caption) else str(c) for c in captions]
        if not texts:
            return np.zeros((0, self.dim))
        return self.embed_sentences(self.text_encoder.encode(texts))

    @torch.no_grad()
    def embed_motions(self, features: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        features = list(features)
        if not features:
            return np.zeros((0, self.dim))
        order = sorted(range(len(features)), key=lambda i: -len(features[i]))  # longer ones batch together
        out = np.zeros((len(features), self.dim))
        for s in range(0, len(order), batch_size):
            rows = order[s:s + batch_size]
            if len(features[rows[0]]) > PAD_FRAMES:  # a longer motion only shares a batch with equal lengths
                rows = [i for i in rows if len(features[i]) == len(features[rows[0]])]
            x, lengths = pad_motions([features[i] for i in rows], self.mean, self.std)
            out[rows] = self.net.encode_motion(x.to(self.device), lengths).double().cpu().numpy()
        return out
