"""ModelBundle: everything one text-to-motion model needs, saved and loaded as one folder.

A bundle holds the RVQ-VAE, the MoMask masked and residual transformers, optionally BAMM, the
length estimator, the model-side normaliser (the official models de-normalise decoder output with
the VQ folder's ``meta/mean.npy``/``std.npy``, not the dataset's ``Mean.npy``/``Std.npy``) and a
JSON-serialisable :class:`BundleConfig`.

Our format (docs/models.md): a folder with ``bundle.json`` (config + file list),
``vq.safetensors``, ``masked.safetensors``, ``residual.safetensors``, ``length.safetensors``,
optionally ``bamm.safetensors``, and ``mean.npy``/``std.npy``. It is written atomically (a
staging folder renamed into place), so a crash never leaves a half-written bundle.
:meth:`ModelBundle.from_official` builds the same object from the official MoMask/BAMM
``checkpoints/t2m/`` folder: each model's ``from_pretrained`` reads its own opt.txt and .tar.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from hmu_demo.atomic import atomic_folder
from hmu_demo.config import ConfigBase
from hmu_demo.models.bamm import BAMMTransformer
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.length import LengthEstimator
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.official import CheckpointError, load_state_dict_checked, official_layout, parse_opt
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


@dataclass
class BundleConfig(ConfigBase):
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
        self.feat_bias = float(self.feat_bias)
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BundleConfig":
        """Inverse of :meth:`to_dict` (bundle.json), the model configs included; unknown keys are an error."""
        cls.check_keys(data)
        for required in ("vq", "masked", "residual"):
            if required not in data:
                raise ValueError(f"BundleConfig needs {required!r}")
        bamm = data.get("bamm")
        return cls(**{**data, "vq": VQConfig.from_dict(data["vq"]),
                      "masked": TransformerConfig.from_dict(data["masked"]),
                      "residual": TransformerConfig.from_dict(data["residual"]),
                      "bamm": None if bamm is None else TransformerConfig.from_dict(bamm)})


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
    weights, except the ``models`` given (attribute -> module, e.g. loaded ones, each matching ``config``);
    use :meth:`load` / :meth:`from_official` for trained ones. Modules start in eval mode.
    """

    def __init__(self, config: BundleConfig, mean: np.ndarray, std: np.ndarray,
                 models: Mapping[str, nn.Module | None] | None = None) -> None:
        super().__init__()
        given = dict(models or {})
        unknown = set(given) - set(MODEL_FILES)
        if unknown:
            raise ValueError(f"unknown bundle models {sorted(unknown)}; expected some of {sorted(MODEL_FILES)}")

        def made(attr: str, build: Callable[[], nn.Module | None]) -> Any:
            module = given[attr] if attr in given else build()
            expected = getattr(config, attr, None)
            if module is not None and hasattr(module, "cfg") and module.cfg != expected:
                raise ValueError(f"the {attr} model's config differs from the bundle config's {attr}")
            return module

        self.config = config
        self.vq = made("vq", lambda: RVQVAE(config.vq))
        self.masked = made("masked", lambda: MaskTransformer(config.masked))
        self.residual = made("residual", lambda: ResidualTransformer(config.residual))
        self.bamm = made("bamm", lambda: BAMMTransformer(config.bamm) if config.bamm is not None else None)
        self.length_estimator = made("length_estimator", lambda: LengthEstimator(
            config.clip_dim, config.length_classes, config.length_hidden))
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
        if folder.exists() and not (folder / "bundle.json").is_file() and any(folder.iterdir()):
            raise BundleError(f"{folder} exists and is not a bundle folder; refusing to replace it")
        with atomic_folder(folder) as tmp:
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

        Each model comes from its own ``from_pretrained`` (configs from its opt.txt, the VQ's
        vocabulary copied into the transformers, sizes the opt.txt lacks read from the weights);
        normalisation is the VQ folder's ``meta/mean.npy``/``std.npy``; the text encoder is CLIP.
        """
        layout = official_layout(folder)
        clip_dim = TEXT_ENCODER_DIMS["clip"]
        vq = RVQVAE.from_pretrained(layout["vq_weights"])
        models: dict[str, nn.Module | None] = {
            "vq": vq,
            "masked": MaskTransformer.from_pretrained(layout["mask_weights"], vq.cfg, clip_dim),
            "residual": ResidualTransformer.from_pretrained(layout["res_weights"], vq.cfg, clip_dim),
            "bamm": BAMMTransformer.from_pretrained(layout["bamm_weights"], vq.cfg, clip_dim)
            if "bamm" in layout else None,
            "length_estimator": LengthEstimator.from_pretrained(layout["length_weights"], clip_dim),
        }
        mean = _load_stats_file(layout["vq_mean"])
        std = _load_stats_file(layout["vq_std"])
        length = models["length_estimator"]
        cfgs = {attr: getattr(m, "cfg", None) for attr, m in models.items()}
        try:
            config = BundleConfig(vq=vq.cfg, masked=cfgs["masked"], residual=cfgs["residual"], bamm=cfgs["bamm"],
                                  length_classes=length.output_size, length_hidden=length.hidden,
                                  text_encoder="clip", clip_dim=clip_dim,
                                  dataset=str(parse_opt(layout["vq_opt"]).get("dataset_name", "t2m")),
                                  feat_bias=FEAT_BIAS)
            bundle = cls(config, mean, std, models)
        except ValueError as err:
            raise CheckpointError(f"official checkpoints in {layout['root']} are inconsistent: {err}") from err
        return bundle.to(device).eval()
