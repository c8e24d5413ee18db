"""ModelBundle: everything one text-to-motion model needs, saved and loaded as one folder.

A bundle holds the RVQ-VAE, the MoMask masked and residual transformers, optionally BAMM, the
length estimator, the model-side normaliser (the VQ folder's ``meta`` mean/std, reference
momask_bamm.md §1 step 6 and §12.9) and a JSON-serialisable :class:`BundleConfig`.

Our format (DESIGN.md "Formats"): a folder with ``bundle.json`` (config + file list),
``vq.safetensors``, ``masked.safetensors``, ``residual.safetensors``, ``length.safetensors``,
optionally ``bamm.safetensors``, and ``mean.npy``/``std.npy``. It is written atomically (a
temporary sibling folder renamed into place), so a crash never leaves a half-written bundle.
:meth:`ModelBundle.from_official` builds the same object from the official MoMask/BAMM
``checkpoints/t2m/`` folder (opt.txt + .tar files, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Collection, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from hmu_demo.models.bamm import BAMMTransformer
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.length import LengthEstimator
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.official import (
    BAMM_KEYS,
    LENGTH_KEYS,
    MASK_KEYS,
    RES_KEYS,
    VQ_KEYS,
    CheckpointError,
    load_state_dict_checked,
    official_layout,
    parse_opt,
    read_checkpoint,
)
from hmu_demo.models.residual import ResidualTransformer
from hmu_demo.models.rvq import RVQVAE, VQConfig
from hmu_demo.models.text import TextEncoder, text_encoder
from hmu_demo.motion.normalization import FEAT_BIAS, Normalizer

__all__ = ["BundleConfig", "ModelBundle", "BundleError", "BUNDLE_FORMAT", "MODEL_FILES", "OPTIONAL_MODELS"]

#: Version of our folder format, stored in bundle.json.
BUNDLE_FORMAT = 1
#: Model attribute -> weights file inside a bundle folder.
MODEL_FILES = {
    "vq": "vq.safetensors",
    "masked": "masked.safetensors",
    "residual": "residual.safetensors",
    "bamm": "bamm.safetensors",
    "length_estimator": "length.safetensors",
}
TEXT_ENCODER_DIMS = {"minilm": 384, "clip": 512}
#: Models a bundle can be loaded without (BAMM backbone; the length estimator, when lengths are given).
OPTIONAL_MODELS = frozenset({"bamm", "length_estimator"})


class BundleError(CheckpointError):
    """A bundle folder is missing, incomplete, corrupt or inconsistent (the message names the file)."""


def _transformer_to_dict(cfg: TransformerConfig) -> dict[str, Any]:
    return asdict(cfg)


def _transformer_from_dict(data: Mapping[str, Any], what: str) -> TransformerConfig:
    known = {f.name for f in fields(TransformerConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what} TransformerConfig keys: {sorted(unknown)}")
    return TransformerConfig(**dict(data))


@dataclass
class BundleConfig:
    """Configuration of every model in a bundle; ``to_dict``/``from_dict`` round-trip through JSON.

    ``text_encoder`` names the encoder the transformers were trained on ("minilm": 384-d, embedded
    world; "clip": 512-d, official world) and ``clip_dim`` its width. ``length_classes``/
    ``length_hidden`` size the length estimator (official: 50 classes, hidden 512). ``feat_bias`` is
    the factor the model-side std of root/contact dims was divided by (informational).
    """

    vq: VQConfig
    masked: TransformerConfig
    residual: TransformerConfig
    bamm: TransformerConfig | None = None
    length_classes: int = 50
    length_hidden: int = 512
    text_encoder: str = "minilm"
    clip_dim: int = 384
    dataset: str = "t2m"
    feat_bias: float = FEAT_BIAS

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODER_DIMS:
            raise ValueError(f"text_encoder must be one of {sorted(TEXT_ENCODER_DIMS)}, got {self.text_encoder!r}")
        if not isinstance(self.clip_dim, int) or self.clip_dim < 1:
            raise ValueError(f"clip_dim must be a positive int, got {self.clip_dim!r}")
        if not isinstance(self.length_classes, int) or self.length_classes < 2:
            raise ValueError(f"length_classes must be an int >= 2, got {self.length_classes!r}")
        vq = self.vq
        for name, cfg in (("masked", self.masked), ("residual", self.residual), ("bamm", self.bamm)):
            if cfg is None:
                continue
            expected = dict(num_tokens=vq.nb_code, code_dim=vq.code_dim, num_quantizers=vq.num_quantizers,
                            clip_dim=self.clip_dim)
            wrong = {k: (getattr(cfg, k), v) for k, v in expected.items() if getattr(cfg, k) != v}
            if wrong:
                detail = ", ".join(f"{k}={a} (expected {b})" for k, (a, b) in wrong.items())
                raise ValueError(f"{name} transformer config does not match the VQ/text encoder: {detail}")

    @classmethod
    def preset(cls, name: str) -> "BundleConfig":
        """Named sizes: "embedded" (the shipped MiniLM models), "tiny" (tests), "official" (MoMask/BAMM, CLIP).

        The embedded sizes keep the official architecture and vocabulary (6 RVQ layers of 512 codes,
        4 frames a token) with narrower networks, so that all models fit the 80 MB budget of
        ``checkpoints/`` at half precision and generate in well under a second on a laptop CPU.
        """
        if name == "official":
            return cls(vq=VQConfig.official(), masked=TransformerConfig.official_masked(),
                       residual=TransformerConfig.official_residual(), bamm=TransformerConfig.official_bamm(),
                       text_encoder="clip", clip_dim=512)
        sizes = {
            # vq width/code_dim, transformer latent/ff/heads, layers (masked, residual, bamm), length hidden
            "embedded": (256, 256, 1024, 4, (6, 4, 6), 256),
            "tiny": (32, 32, 64, 2, (1, 1, 1), 32),
        }
        if name not in sizes:
            raise ValueError(f"unknown preset {name!r}; choose one of embedded, tiny, official")
        width, latent, ff, heads, (n_masked, n_res, n_bamm), length_hidden = sizes[name]
        vq = VQConfig(nb_code=512, code_dim=width, output_emb_width=width, width=width, depth=3 if width > 64 else 1)
        common = dict(latent_dim=latent, ff_size=ff, n_heads=heads, clip_dim=384, num_tokens=vq.nb_code,
                      code_dim=vq.code_dim, num_quantizers=vq.num_quantizers, max_len=64)
        return cls(vq=vq,
                   masked=TransformerConfig(n_layers=n_masked, dropout=0.1, cond_drop_prob=0.1, **common),
                   residual=TransformerConfig(n_layers=n_res, dropout=0.1, cond_drop_prob=0.2, share_weight=True,
                                              **common),
                   bamm=TransformerConfig(n_layers=n_bamm, dropout=0.1, cond_drop_prob=0.1, **common),
                   length_hidden=length_hidden, text_encoder="minilm", clip_dim=384)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vq": self.vq.to_dict(),
            "masked": _transformer_to_dict(self.masked),
            "residual": _transformer_to_dict(self.residual),
            "bamm": None if self.bamm is None else _transformer_to_dict(self.bamm),
            "length_classes": self.length_classes,
            "length_hidden": self.length_hidden,
            "text_encoder": self.text_encoder,
            "clip_dim": self.clip_dim,
            "dataset": self.dataset,
            "feat_bias": float(self.feat_bias),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BundleConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown BundleConfig keys: {sorted(unknown)}")
        for required in ("vq", "masked", "residual"):
            if required not in data:
                raise ValueError(f"BundleConfig needs {required!r}")
        rest = {k: v for k, v in data.items() if k not in ("vq", "masked", "residual", "bamm")}
        bamm = data.get("bamm")
        return cls(
            vq=VQConfig.from_dict(data["vq"]),
            masked=_transformer_from_dict(data["masked"], "masked"),
            residual=_transformer_from_dict(data["residual"], "residual"),
            bamm=None if bamm is None else _transformer_from_dict(bamm, "bamm"),
            **rest,
        )


def _stored(tensor: Tensor, dtype: torch.dtype | None) -> Tensor:
    out = tensor.detach().to("cpu")
    if dtype is not None and out.is_floating_point():
        out = out.to(dtype)
    return out.contiguous().clone()


def _load_stats_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise BundleError(f"{path} is missing")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:
        raise BundleError(f"cannot read {path}: {type(err).__name__}: {err}") from err
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating):
        raise BundleError(f"{path} must hold a 1-d float array, got {arr.dtype} {arr.shape}")
    return arr


def _load_model_file(module: nn.Module, path: Path, attr: str, folder: Path, load_file) -> None:
    if not path.is_file():
        raise BundleError(f"{path} is missing (bundle {folder} needs it for the {attr} model)")
    try:
        state = load_file(str(path))
    except Exception as err:
        raise BundleError(f"cannot read {path} (corrupt safetensors file?): {type(err).__name__}: {err}") from err
    try:
        load_state_dict_checked(module, state, path)
    except CheckpointError as err:
        raise BundleError(str(err)) from err


class ModelBundle(nn.Module):
    """The models of one text-to-motion system plus its model-side normaliser and config.

    ``vq`` (:class:`RVQVAE`), ``masked`` (:class:`MaskTransformer`), ``residual``
    (:class:`ResidualTransformer`), ``bamm`` (:class:`BAMMTransformer` or None),
    ``length_estimator`` (:class:`LengthEstimator`, None when loaded without it), ``normalizer`` (:class:`Normalizer` with the
    model-side mean/std, used to de-normalise decoder output) and ``config``. Built with random
    weights; use :meth:`load` / :meth:`from_official` for trained ones. Modules start in eval mode.
    """

    def __init__(self, config: BundleConfig, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.config = config
        self.vq = RVQVAE(config.vq)
        self.masked = MaskTransformer(config.masked)
        self.residual = ResidualTransformer(config.residual)
        self.bamm = BAMMTransformer(config.bamm) if config.bamm is not None else None
        self.length_estimator = LengthEstimator(config.clip_dim, config.length_classes, config.length_hidden)
        self.normalizer = Normalizer(np.asarray(mean), np.asarray(std))
        #: Optional models :meth:`load` left out -> why (the message names the file).
        self.unavailable: dict[str, str] = {}
        if self.normalizer.dim != config.vq.dim_pose:
            raise ValueError(f"mean/std have {self.normalizer.dim} dims, the VQ expects {config.vq.dim_pose}")
        self.eval()

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return next(self.vq.parameters()).device

    @property
    def mean(self) -> np.ndarray:
        return self.normalizer.mean

    @property
    def std(self) -> np.ndarray:
        return self.normalizer.std

    def models(self) -> dict[str, nn.Module]:
        """Attribute name -> module, for the models present (``bamm`` only when the bundle has it)."""
        out: dict[str, nn.Module] = {"vq": self.vq, "masked": self.masked, "residual": self.residual}
        if self.bamm is not None:
            out["bamm"] = self.bamm
        if self.length_estimator is not None:
            out["length_estimator"] = self.length_estimator
        return out

    # ------------------------------------------------------------------ text encoder
    def make_text_encoder(self, device: str | torch.device | None = None,
                          weights: str | Path | None = None) -> TextEncoder:
        """The text encoder this bundle was trained with (MiniLM or CLIP), checked against the config."""
        enc = text_encoder(self.config.text_encoder, device=device if device is not None else self.device,
                           weights=weights)
        self.check_text_encoder(enc)
        return enc

    def check_text_encoder(self, enc: TextEncoder) -> TextEncoder:
        """Refuse an encoder whose name or width differs from what the bundle was trained with."""
        name, dim = getattr(enc, "name", type(enc).__name__), getattr(enc, "dim", None)
        if name != self.config.text_encoder or dim != self.config.clip_dim:
            raise ValueError(
                f"this bundle was trained with {self.config.text_encoder} ({self.config.clip_dim}-dim); "
                f"got {name} ({dim}-dim)"
            )
        return enc

    # ------------------------------------------------------------------ our format
    def save(self, folder: str | Path, dtype: torch.dtype | None = None,
             extra: Mapping[str, Any] | None = None) -> Path:
        """Write the bundle to ``folder`` atomically (replacing an existing bundle there).

        ``dtype`` (e.g. ``torch.float16``) stores floating-point weights at that precision to halve
        the files; :meth:`load` always returns float32 modules. ``extra`` is JSON-serialisable
        information (training summary, ...) kept in bundle.json under ``"info"``.
        """
        from safetensors.torch import save_file

        folder = Path(folder).expanduser()
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            files = {}
            for attr, module in self.models().items():
                state = {k: _stored(v, dtype) for k, v in module.state_dict().items()}
                save_file(state, str(tmp / MODEL_FILES[attr]), metadata={"format": "pt", "model": attr})
                files[attr] = MODEL_FILES[attr]
            np.save(tmp / "mean.npy", np.asarray(self.normalizer.mean))
            np.save(tmp / "std.npy", np.asarray(self.normalizer.std))
            meta = {"format": "hmu-bundle", "version": BUNDLE_FORMAT, "config": self.config.to_dict(),
                    "files": files, "weights_dtype": str(dtype or torch.float32).replace("torch.", ""),
                    "info": dict(extra or {})}
            (tmp / "bundle.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
            old = None
            if folder.exists():
                if not (folder / "bundle.json").is_file() and any(folder.iterdir()):
                    raise BundleError(f"{folder} exists and is not a bundle folder; refusing to replace it")
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
                os.replace(folder, old / "bundle")
            try:
                os.replace(tmp, folder)
            except BaseException:
                if old is not None:
                    os.replace(old / "bundle", folder)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu",
             optional: Collection[str] = ()) -> "ModelBundle":
        """Read a folder written by :meth:`save`; errors name the missing or corrupt file.

        Models named in ``optional`` (``bamm``, ``length_estimator``) whose file is missing or
        unreadable are left out (set to None) instead, with the reason in :attr:`unavailable`, so
        an app can still serve what the other files allow.
        """
        from safetensors.torch import load_file

        unknown = set(optional) - OPTIONAL_MODELS
        if unknown:
            raise ValueError(f"only {sorted(OPTIONAL_MODELS)} can be optional, got {sorted(unknown)}")

        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise BundleError(f"bundle folder {folder} does not exist")
        meta_path = folder / "bundle.json"
        if not meta_path.is_file():
            raise BundleError(f"{meta_path} is missing (not a model bundle folder)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != "hmu-bundle":
                raise ValueError("not an hmu-bundle file")
            if int(meta.get("version", 0)) > BUNDLE_FORMAT:
                raise ValueError(f"format version {meta.get('version')} is newer than this code ({BUNDLE_FORMAT})")
            config = BundleConfig.from_dict(meta["config"])
        except Exception as err:
            raise BundleError(f"cannot read {meta_path}: {type(err).__name__}: {err}") from err
        mean = _load_stats_file(folder / "mean.npy")
        std = _load_stats_file(folder / "std.npy")
        try:
            bundle = cls(config, mean, std)
        except ValueError as err:
            raise BundleError(f"{folder}: {err}") from err
        for attr, module in bundle.models().items():
            try:
                _load_model_file(module, folder / MODEL_FILES[attr], attr, folder, load_file)
            except BundleError as err:
                if attr not in optional:
                    raise
                setattr(bundle, attr, None)
                bundle.unavailable[attr] = str(err)
        return bundle.to(device).eval()

    # ------------------------------------------------------------------ official format
    @classmethod
    def from_official(cls, folder: str | Path, device: str | torch.device = "cpu") -> "ModelBundle":
        """Build from the official MoMask (+ BAMM) ``checkpoints/t2m/`` folder (see official_layout).

        Configs come from each opt.txt, with the VQ's nb_code/code_dim/num_quantizers copied into
        the transformers; the PE table length and the length estimator's sizes are read from the
        weights; normalisation is the VQ folder's ``meta/mean.npy``/``std.npy``; text encoder CLIP.
        """
        layout = official_layout(folder)
        vq_opt = parse_opt(layout["vq_opt"])
        try:
            vq_cfg = VQConfig.from_opt(vq_opt)
        except ValueError as err:
            raise CheckpointError(f"{layout['vq_opt']}: {err}") from err
        vq_state = read_checkpoint(layout["vq_weights"], VQ_KEYS)
        clip_dim = TEXT_ENCODER_DIMS["clip"]

        def transformer(opt_key: str, weights_key: str, keys: tuple[str, ...]) -> tuple[TransformerConfig, dict]:
            opt = parse_opt(layout[opt_key])
            state = read_checkpoint(layout[weights_key], keys)
            overrides: dict[str, Any] = dict(num_tokens=vq_cfg.nb_code, code_dim=vq_cfg.code_dim,
                                             num_quantizers=vq_cfg.num_quantizers, clip_dim=clip_dim)
            pe = state.get("position_enc.pe")
            if isinstance(pe, Tensor) and pe.dim() >= 1:
                overrides["max_len"] = int(pe.shape[0])
            try:
                cfg = TransformerConfig.from_opt(opt, **overrides)
            except ValueError as err:
                raise CheckpointError(f"{layout[opt_key]}: {err}") from err
            return cfg, state

        masked_cfg, masked_state = transformer("mask_opt", "mask_weights", MASK_KEYS)
        res_cfg, res_state = transformer("res_opt", "res_weights", RES_KEYS)
        bamm_cfg, bamm_state = (None, None)
        if "bamm" in layout:
            bamm_cfg, bamm_state = transformer("bamm_opt", "bamm_weights", BAMM_KEYS)

        len_state = read_checkpoint(layout["length_weights"], LENGTH_KEYS)
        first, last = len_state.get("output.0.weight"), len_state.get("output.11.weight")
        hidden = int(first.shape[0]) if isinstance(first, Tensor) and first.dim() == 2 else 512
        classes = int(last.shape[0]) if isinstance(last, Tensor) and last.dim() == 2 else 50

        mean = _load_stats_file(layout["vq_mean"])
        std = _load_stats_file(layout["vq_std"])
        dataset = str(vq_opt.get("dataset_name", "t2m"))
        try:
            config = BundleConfig(vq=vq_cfg, masked=masked_cfg, residual=res_cfg, bamm=bamm_cfg,
                                  length_classes=classes, length_hidden=hidden, text_encoder="clip",
                                  clip_dim=clip_dim, dataset=dataset, feat_bias=FEAT_BIAS)
            bundle = cls(config, mean, std)
        except ValueError as err:
            raise CheckpointError(f"official checkpoints in {layout['root']} are inconsistent: {err}") from err
        load_state_dict_checked(bundle.vq, vq_state, layout["vq_weights"])
        load_state_dict_checked(bundle.masked, masked_state, layout["mask_weights"])
        load_state_dict_checked(bundle.residual, res_state, layout["res_weights"])
        if bundle.bamm is not None:
            load_state_dict_checked(bundle.bamm, bamm_state, layout["bamm_weights"])
        load_state_dict_checked(bundle.length_estimator, len_state, layout["length_weights"])
        return bundle.to(device).eval()
