"""Guo et al.'s T2M evaluator (2022) loaded from the official files: the metric every paper reports.

Files (those EricGuo5513/text-to-motion publishes), under a folder laid out like the official repositories:

* ``checkpoints/t2m/text_mot_match/model/finest.tar``: ``torch.save`` dict with the state dicts
  ``text_encoder``, ``motion_encoder``, ``movement_encoder`` (plus optimizer state, epoch, iter,
  which are not needed and not required);
* ``checkpoints/t2m/Comp_v6_KLD005/meta/{mean,std}.npy``: the normalisation the nets were trained in;
* ``glove/our_vab_{data.npy,words.pkl,idx.pkl}``: the word vectors (:mod:`word_vectorizer`).

Network sizes are read from the tensor shapes, so the loader checks a file's structure rather than
its size (tests use tiny files in the same format). Motions are embedded as the official loaders
feed them: cropped to a multiple of 4 frames, normalised, contacts dropped, zero-padded to 196 frames
(``max_motion_length``). Each motion is padded on its own terms (never to a batch maximum), so an
embedding does not depend on which other motions share its batch.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from hmu_demo.data.captions import Caption
from hmu_demo.cli import one_line
from hmu_demo.config import resolve_device
from hmu_demo.models.evaluators.base import EvaluatorError, TextMotionEvaluator
from hmu_demo.models.evaluators.nets import MotionEncoderBiGRUCo, MovementConvEncoder, TextEncoderBiGRUCo
from hmu_demo.models.evaluators.word_vectorizer import MAX_TOKENS, POS_CLASSES, WordVectorizer

__all__ = [
    "OfficialT2MEvaluator",
    "read_evaluator_checkpoint",
    "build_nets",
    "CHECKPOINT_PARTS",
    "META_PARTS",
    "GLOVE_PARTS",
    "NET_KEYS",
    "PAD_FRAMES",
]

#: Locations inside the official folder layout.
CHECKPOINT_PARTS = ("checkpoints", "t2m", "text_mot_match", "model", "finest.tar")
META_PARTS = ("checkpoints", "t2m", "Comp_v6_KLD005", "meta")
GLOVE_PARTS = ("glove",)

#: Checkpoint entries that must be present (state dicts, with the official key names).
NET_KEYS = ("movement_encoder", "motion_encoder", "text_encoder")

#: Motions are zero-padded to this many frames, as the official evaluation loader does.
PAD_FRAMES = 196
#: Temporal stride of the movement encoder (the official ``unit_length``).
UNIT_LENGTH = 4
#: Trailing foot-contact channels the evaluator does not see.
CONTACT_DIMS = 4

_HINT = "the official files of EricGuo5513/text-to-motion (see README, 'Official checkpoints')"


def _first_line(err: BaseException, limit: int = 300) -> str:
    text = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), "")
    return f"{type(err).__name__}: {text[:limit]}"


# ------------------------------------------------------------------------------------------ files


def read_evaluator_checkpoint(path: str | Path) -> tuple[dict[str, dict[str, Tensor]], int | None]:
    """The three state dicts of ``finest.tar`` (``torch.load(weights_only=True)``) and its epoch, if stored."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EvaluatorError(f"evaluator checkpoint {path} does not exist ({_HINT})")
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = str(err).splitlines()
        reason = next((ln.strip() for ln in lines if "WeightsUnpickler error" in ln), _first_line(err))
        raise EvaluatorError(f"refusing to load {path}: it holds objects other than tensors and plain data, "
                             f"which could run code when unpickled ({reason.split('. Please use')[0][:300]})"
                             ) from err
    except Exception as err:
        raise EvaluatorError(f"cannot read evaluator checkpoint {path} (truncated or not a torch file?): "
                             f"{_first_line(err)}") from err
    if not isinstance(ckpt, Mapping):
        raise EvaluatorError(f"{path} holds a {type(ckpt).__name__}, not a dict with the entries {', '.join(NET_KEYS)}")
    missing = [k for k in NET_KEYS if k not in ckpt]
    if missing:
        present = ", ".join(sorted(map(str, ckpt))) or "none"
        raise EvaluatorError(f"{path} lacks the entries {', '.join(missing)} (entries present: {present}); "
                             f"expected the official text_mot_match/model/finest.tar")
    states: dict[str, dict[str, Tensor]] = {}
    for key in NET_KEYS:
        state = ckpt[key]
        if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
            raise EvaluatorError(f"{path}: entry {key!r} is not a state dict of tensors")
        states[key] = {str(k): v for k, v in state.items()}
    epoch = ckpt.get("epoch")
    return states, (epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None)


def _read_meta(folder: str | Path) -> tuple[np.ndarray, np.ndarray, Path]:
    """mean.npy / std.npy of ``folder`` (or of ``folder/meta``), as float64 vectors."""
    folder = Path(folder).expanduser()
    if not (folder / "mean.npy").is_file() and (folder / "meta" / "mean.npy").is_file():
        folder = folder / "meta"
    arrays = []
    for name in ("mean.npy", "std.npy"):
        path = folder / name
        if not path.is_file():
            raise EvaluatorError(f"normalisation file {path} does not exist (the official "
                                 f"Comp_v6_KLD005/meta/ folder; {_HINT})")
        try:
            arrays.append(np.asarray(np.load(path, allow_pickle=False), dtype=np.float64))
        except Exception as err:
            raise EvaluatorError(f"cannot read normalisation file {path}: {_first_line(err)}") from err
    return arrays[0], arrays[1], folder


# ------------------------------------------------------------------------------------------- nets


def _dims(states: Mapping[str, Mapping[str, Tensor]], key: str, name: str, rank: int, source: str) -> tuple[int, ...]:
    tensor = states[key].get(name)
    if tensor is None or tensor.dim() != rank:
        got = "missing" if tensor is None else f"shape {tuple(tensor.shape)}"
        raise EvaluatorError(f"{source}: entry {key!r} needs a rank-{rank} tensor {name!r} ({got})")
    return tuple(int(s) for s in tensor.shape)


def _load_strict(net: nn.Module, state: Mapping[str, Tensor], key: str, source: str) -> None:
    """Load with every key and shape checked first, so the error names the file and the entry."""
    expected = net.state_dict()
    problems = [f"missing {k!r}" for k in expected if k not in state]
    problems += [f"unexpected {k!r}" for k in state if k not in expected]
    problems += [f"{k!r} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}"
                 for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise EvaluatorError(f"{source}: entry {key!r} does not fit {type(net).__name__}: "
                             f"{'; '.join(problems[:5])}{more}")
    net.load_state_dict(dict(state), strict=True)


def build_nets(states: Mapping[str, Mapping[str, Tensor]], source: str = "<memory>"
               ) -> tuple[MovementConvEncoder, MotionEncoderBiGRUCo, TextEncoderBiGRUCo]:
    """The three nets sized from the state dicts' shapes, loaded strictly, in eval mode on the CPU."""
    hid_mov, in_mov, _ = _dims(states, "movement_encoder", "main.0.weight", 3, source)
    out_mov = _dims(states, "movement_encoder", "main.3.weight", 3, source)[0]
    hid_mot, in_mot = _dims(states, "motion_encoder", "input_emb.weight", 2, source)
    out_mot = _dims(states, "motion_encoder", "output_net.3.weight", 2, source)[0]
    word, pos = _dims(states, "text_encoder", "pos_emb.weight", 2, source)
    hid_txt = _dims(states, "text_encoder", "input_emb.weight", 2, source)[0]
    out_txt = _dims(states, "text_encoder", "output_net.3.weight", 2, source)[0]
    if in_mot != out_mov:
        raise EvaluatorError(f"{source}: motion_encoder takes {in_mot}-d inputs but movement_encoder "
                             f"gives {out_mov}-d codes")
    if out_txt != out_mot:
        raise EvaluatorError(f"{source}: text embeddings are {out_txt}-d but motion embeddings {out_mot}-d")
    if pos != len(POS_CLASSES):
        raise EvaluatorError(f"{source}: text_encoder takes {pos} POS classes, expected {len(POS_CLASSES)}")
    nets = (MovementConvEncoder(in_mov, hid_mov, out_mov), MotionEncoderBiGRUCo(in_mot, hid_mot, out_mot),
            TextEncoderBiGRUCo(word, pos, hid_txt, out_txt))
    for key, net in zip(NET_KEYS, nets):
        _load_strict(net, states[key], key, source)
        net.eval()
    return nets


def _device(device: str | torch.device | None) -> torch.device:
    """:func:`hmu_demo.config.resolve_device`, its refusals as EvaluatorError (the loader's one error type)."""
    try:
        return resolve_device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise EvaluatorError(f"device {device!r}: {one_line(err)}") from err


# -------------------------------------------------------------------------------------- evaluator


class OfficialT2MEvaluator(TextMotionEvaluator):
    """Text (GloVe + POS) and motion (263-d features) embeddings of the official T2M evaluator."""

    name = "t2m-official"

    def __init__(self, movement_encoder: MovementConvEncoder, motion_encoder: MotionEncoderBiGRUCo,
                 text_encoder: TextEncoderBiGRUCo, vectorizer: WordVectorizer, mean: np.ndarray,
                 std: np.ndarray, *, device: str | torch.device | None = "cpu", batch_size: int = 256,
                 source: str = "<memory>", meta_source: str = "<memory>", epoch: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        mean = np.asarray(mean, dtype=np.float64)
        std = np.asarray(std, dtype=np.float64)
        n_in = movement_encoder.main[0].in_channels + CONTACT_DIMS
        if mean.shape != (n_in,) or std.shape != (n_in,):
            raise EvaluatorError(f"{source}: mean/std have shapes {mean.shape}/{std.shape}, expected ({n_in},) "
                                 f"(the movement encoder's {n_in - CONTACT_DIMS} inputs + {CONTACT_DIMS} contacts)")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise EvaluatorError(f"{source}: mean/std hold non-finite values or non-positive deviations")
        word_size = text_encoder.pos_emb.out_features
        if vectorizer.dim != word_size:
            raise EvaluatorError(f"{source}: the word vectors are {vectorizer.dim}-d but the text encoder "
                                 f"takes {word_size}-d words")
        self.device = _device(device)
        self.movement_encoder = movement_encoder.to(self.device).eval()
        self.motion_encoder = motion_encoder.to(self.device).eval()
        self.text_encoder = text_encoder.to(self.device).eval()
        self.vectorizer = vectorizer
        self.mean, self.std = mean, std
        self.source, self.meta_source, self.epoch = source, meta_source, epoch
        self.batch_size = batch_size
        self.dim = int(text_encoder.output_net[-1].out_features)

    @classmethod
    def load(cls, root: str | Path | None = None, device: str | torch.device | None = "cpu", *,
             checkpoint: str | Path | None = None, meta: str | Path | None = None,
             glove: str | Path | None = None, batch_size: int = 256) -> OfficialT2MEvaluator:
        """Load from a folder with the official layout; ``checkpoint``/``meta``/``glove`` override its parts.

        ``meta`` is the folder holding ``mean.npy``/``std.npy`` (or its parent), ``glove`` the folder of
        the ``our_vab_*`` files. ``device=None`` picks CUDA when available.
        """
        if root is None and None in (checkpoint, meta, glove):
            raise EvaluatorError("give the folder holding checkpoints/ and glove/, or all of checkpoint=, meta= "
                                 "and glove=")
        base = Path(root).expanduser() if root is not None else Path()
        ckpt_path = Path(checkpoint).expanduser() if checkpoint is not None else base.joinpath(*CHECKPOINT_PARTS)
        meta_path = Path(meta).expanduser() if meta is not None else base.joinpath(*META_PARTS)
        glove_path = Path(glove).expanduser() if glove is not None else base.joinpath(*GLOVE_PARTS)
        states, epoch = read_evaluator_checkpoint(ckpt_path)
        nets = build_nets(states, str(ckpt_path))
        mean, std, meta_dir = _read_meta(meta_path)
        vectorizer = WordVectorizer.load(glove_path)
        return cls(*nets, vectorizer, mean, std, device=device, batch_size=batch_size, source=str(ckpt_path),
                   meta_source=str(meta_dir), epoch=epoch)

    def describe(self) -> str:
        epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
        return (f"official T2M evaluator (Guo et al. 2022): {self.source}{epoch}; GloVe {self.vectorizer.source} "
                f"({len(self.vectorizer)} words); normalisation {self.meta_source}; "
                f"{self.dim}-d on {self.device}")

    # ------------------------------------------------------------------------------------ texts

    def embed_texts(self, captions: Sequence[Caption]) -> np.ndarray:
        encoded = []
        for i, caption in enumerate(captions):
            if not caption.tokens:
                raise EvaluatorError(f"caption {i} ({caption.text!r}) has no word/POS tokens; the official "
                                     f"evaluator needs them, as in HumanML3D texts/ files "
                                     f"('caption#word/POS ...#start#end')")
            encoded.append(self.vectorizer.encode(caption.tokens, MAX_TOKENS))
        out = np.zeros((len(encoded), self.dim), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(encoded), self.batch_size):
                part = encoded[start:start + self.batch_size]
                words = torch.from_numpy(np.stack([w for w, _, _ in part])).to(self.device)
                pos = torch.from_numpy(np.stack([p for _, p, _ in part])).to(self.device)
                lengths = torch.tensor([n for _, _, n in part], dtype=torch.int64)
                out[start:start + len(part)] = self.text_encoder(words, pos, lengths).double().cpu().numpy()
        return out

    # ---------------------------------------------------------------------------------- motions

    def _prepare(self, index: int, features: np.ndarray) -> np.ndarray:
        """Normalised (T - T % 4, 259) float32 input of one raw motion."""
        arr = np.asarray(features, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.mean.shape[0]:
            raise ValueError(f"motion {index} has shape {arr.shape}, expected (frames, {self.mean.shape[0]})")
        if arr.shape[0] < UNIT_LENGTH:
            raise ValueError(f"motion {index} has {arr.shape[0]} frames; the evaluator needs at least {UNIT_LENGTH}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"motion {index} holds NaN or infinite values")
        frames = arr.shape[0] - arr.shape[0] % UNIT_LENGTH  # the official loaders crop to whole units
        normalised = (arr[:frames] - self.mean) / self.std
        return normalised[:, :-CONTACT_DIMS].astype(np.float32)

    def _movement_codes(self, motions: list[np.ndarray], padded: int) -> list[Tensor]:
        """Movement codes of motions zero-padded to ``padded`` frames, cut to each one's T // 4 codes."""
        batch = np.zeros((len(motions), padded, motions[0].shape[1]), dtype=np.float32)
        for row, motion in enumerate(motions):
            batch[row, :len(motion)] = motion
        codes = self.movement_encoder(torch.from_numpy(batch).to(self.device))
        return [codes[row, :len(motion) // UNIT_LENGTH] for row, motion in enumerate(motions)]

    def embed_motions(self, features: Sequence[np.ndarray]) -> np.ndarray:
        motions = [self._prepare(i, f) for i, f in enumerate(features)]
        # Official batches are zero-padded to 196 frames; longer motions keep their own length, since
        # padding them further would change their last movement code.
        padded = [max(PAD_FRAMES, len(m)) for m in motions]
        order = sorted(range(len(motions)), key=padded.__getitem__)
        out = np.zeros((len(motions), self.dim), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                codes: list[Tensor] = []
                for length, group in groupby(chunk, key=padded.__getitem__):
                    codes += self._movement_codes([motions[i] for i in group], length)
                lengths = torch.tensor([len(motions[i]) // UNIT_LENGTH for i in chunk], dtype=torch.int64)
                emb = self.motion_encoder(pad_sequence(codes, batch_first=True), lengths)
                out[chunk] = emb.double().cpu().numpy()
        return out
