"""Official MoMask/BAMM checkpoint formats: ``opt.txt``, ``.tar`` checkpoints, folder layout.

Users place the official checkpoints themselves (README.md, "Official checkpoints"); this
module reads them safely and with clear messages. The formats, as the official training scripts
write them:

- a run folder ``<name>/`` holds ``opt.txt`` and ``model/*.tar`` (the VQ folder also ``meta/mean.npy``,
  ``meta/std.npy``); the length estimator is ``length_estimator/model/finest.tar``.
- ``opt.txt``: header line, sorted ``key: value`` lines, footer line; values typed as
  ``utils/get_opt.py`` does (bool, float, int, otherwise the string as written).
- ``model/*.tar``: ``torch.save`` dicts such as ``{'t2m_transformer': state_dict, 'ep': 12}``, possibly
  with optimizer/scheduler state. Always loaded with ``weights_only=True``; a small explicit
  allow-list of plain-data globals covers scheduler/metric values, and anything else is refused.

No model classes live here: each model's ``from_pretrained`` reads its own files through these helpers.
"""

from __future__ import annotations

import collections
import pickle
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from numpy._core import multiarray
from torch import Tensor, nn

from hmu_demo.data.textfile import numbered_lines

__all__ = [
    "CheckpointError", "parse_opt", "read_checkpoint", "checkpoint_keys", "load_state_dict_checked",
    "official_layout", "official_files", "VQ_KEYS", "MASK_KEYS", "RES_KEYS", "LENGTH_KEYS", "BAMM_KEYS",
    "VQ_WEIGHTS", "MASK_WEIGHTS", "RES_WEIGHTS", "LENGTH_WEIGHTS", "SAFE_GLOBALS", "GET_CHECKPOINTS_HINT",
]

#: Keys under which the official training scripts store each model's state dict (first wins).
VQ_KEYS = ("vq_model", "net")
MASK_KEYS = ("t2m_transformer", "trans")
RES_KEYS = ("res_transformer",)
LENGTH_KEYS = ("estimator",)
BAMM_KEYS = MASK_KEYS  # BAMM's trainer is a fork of MoMask's and saves under the same key
#: Weights files in a run folder's ``model/``, the one to use first (MoMask ships both for some runs).
VQ_WEIGHTS = ("net_best_fid.tar",)
MASK_WEIGHTS = ("latest.tar", "net_best_fid.tar")
RES_WEIGHTS = ("net_best_fid.tar", "latest.tar")
LENGTH_WEIGHTS = ("finest.tar",)

#: Where a user gets the official files (kept in one place so the README and errors agree).
GET_CHECKPOINTS_HINT = (
    "see README.md, section 'Official checkpoints': MoMask's prepare/download_models.sh "
    "(EricGuo5513/momask-codes) fills checkpoints/t2m/; BAMM's prepare/download_models_BAMM.sh "
    "(exitudio/BAMM) gives the BAMM run folder <name>/{opt.txt, model/latest.tar}, to place next to them"
)


class CheckpointError(RuntimeError):
    """An official checkpoint or options file is missing, unreadable, unsafe or does not fit a model."""


# ---------------------------------------------------------------------------------------------- opt.txt

_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_INT = re.compile(r"[-+]?[0-9]+")


def _opt_value(value: str) -> bool | float | int | str:
    """Type a value exactly as the official ``get_opt`` does (so '1e-05', 'None', '[50000]' stay strings)."""
    if value in ("True", "False"):
        return value == "True"
    if _FLOAT.fullmatch(value):
        return float(value)
    if _INT.fullmatch(value):
        return int(value)
    return value


def coerce_opt(name: str, value: Any, kind: str) -> Any:
    """Convert one parsed ``opt.txt`` value to ``kind`` ("bool", "int", "float", "str" or "str | None").

    ``parse_opt`` keeps anything non-numeric as a string (as the official loader does), and configs
    written by hand may hold strings throughout, so every model config converts through here.
    """
    try:
        if kind in ("str | None", "Optional[str]"):
            if value is None or (isinstance(value, str) and value.strip() in ("None", "none", "")):
                return None
            return str(value)
        if kind == "str":
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        if kind == "int":
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value)
            if isinstance(value, int):
                return value
            raise ValueError
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"opt value for {name!r} must be a {kind}, got {value!r}") from None
    return value


def parse_opt(path: str | Path) -> dict[str, object]:
    """Read an official ``opt.txt`` into a dict (types per the official rules, see module docstring).

    The dataset constants the official loader injects afterwards (joints_num, dim_pose, ...) are
    not added: callers decide what they need. A line that is not ``key: value`` raises
    :class:`CheckpointError` naming the file and the line number.
    """
    path = Path(path)
    opt: dict[str, object] = {}
    for number, line in numbered_lines(path, CheckpointError, "options file"):
        stripped = line.strip()
        if stripped.startswith("---") and stripped.endswith("---"):
            continue  # '------------ Options -------------' or '-------------- End ----------------'
        key, sep, value = line.partition(": ")
        if not sep or not key.strip():
            raise CheckpointError(f"{path}, line {number}: expected 'key: value' as written by the official "
                                  f"training scripts, got {line!r}")
        opt[key.strip()] = _opt_value(value)
    if not opt:
        raise CheckpointError(f"{path} holds no options (expected 'key: value' lines)")
    return opt


# ---------------------------------------------------------------------------------------- checkpoints


def _numpy_globals() -> list[Any]:
    """numpy scalars/dtypes (metrics such as a best FID saved as np.float64): plain data, no code."""
    # np.dtype plus the per-type dtype classes (numpy 2 pickles dtypes through them), numeric only
    out: list[Any] = [np.dtype, *sorted({type(np.dtype(c)) for c in "?bBhHiIlLqQefdFD"}, key=str)]
    # Files pickled under numpy 1 name the function 'numpy.core.multiarray.scalar'; accept both names.
    scalar = multiarray.scalar
    out += [scalar, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    return out


#: The only non-tensor globals a checkpoint may reference besides what torch allows by default:
#: containers used by optimizer/LR-scheduler state (MultiStepLR keeps milestones in a Counter) and
#: numpy scalars. None of them can run code while unpickling.
SAFE_GLOBALS: tuple[Any, ...] = (collections.Counter, collections.OrderedDict, *_numpy_globals())

_LOAD_LOCK = threading.Lock()  # torch's safe_globals context edits process-wide state


def _unsafe_globals(path: Path) -> list[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # legacy (non-zip) files cannot be inspected this way
        return []


def _load(path: Path, mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)``, retried once with :data:`SAFE_GLOBALS`; never weights_only=False."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    kwargs: dict[str, Any] = dict(map_location="cpu", weights_only=True, **({"mmap": True} if mmap else {}))
    try:
        return torch.load(str(path), **kwargs)
    except pickle.UnpicklingError:
        pass  # a global outside torch's defaults: retry with our allow-list below
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err
    try:
        with _LOAD_LOCK, torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(str(path), **kwargs)
    except pickle.UnpicklingError as err:
        unsafe = _unsafe_globals(path)
        what = f" objects of type {', '.join(unsafe)}" if unsafe else " objects outside the allow-list"
        # keep torch's precise reason ('Unsupported global: ...'), not its advice to disable the check
        reason = next((ln.strip() for ln in str(err).splitlines() if "WeightsUnpickler error" in ln), "")
        reason = reason.split(". Please use")[0][:300]
        raise CheckpointError(
            f"refusing to load {path}: it holds{what}, which could run arbitrary code when unpickled; "
            f"only tensors and plain data are accepted" + (f" ({reason})" if reason else "")
        ) from err
    except Exception as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err


def _load_cheap(path: Path) -> Any:
    """Load with memory-mapped tensors (reads the pickle, not the weights) where the format allows."""
    try:
        return _load(path, mmap=True)
    except CheckpointError:
        return _load(path)  # legacy (non-zip) files cannot be memory-mapped


def checkpoint_keys(path: str | Path) -> list[str]:
    """Top-level keys of a checkpoint, read cheaply (memory-mapped tensors), e.g. to tell models apart."""
    ckpt = _load_cheap(Path(path))
    return [str(k) for k in ckpt] if isinstance(ckpt, Mapping) else []


def _transformer_kind(path: Path) -> tuple[str | None, list[str]]:
    """'res', 'bamm' or 'mask' from a transformer checkpoint's key and vocabulary size, plus its keys.

    BAMM's vocabulary has an END token: ``token_emb.weight`` has 515 rows (MoMask: 514).
    """
    ckpt = _load_cheap(path)
    if not isinstance(ckpt, Mapping):
        return None, []
    keys = [str(k) for k in ckpt]
    if any(k in ckpt for k in RES_KEYS):
        return "res", keys
    key = next((k for k in MASK_KEYS if k in ckpt), None)
    if key is None:
        return None, keys
    emb = ckpt[key].get("token_emb.weight") if isinstance(ckpt[key], Mapping) else None
    return ("bamm" if isinstance(emb, Tensor) and emb.shape[0] == 515 else "mask"), keys


def read_checkpoint(path: str | Path, keys: tuple[str, ...]) -> dict[str, Tensor]:
    """The state dict stored under the first of ``keys`` present in the checkpoint at ``path``.

    E.g. ``read_checkpoint(p, VQ_KEYS)`` for ``{'vq_model': ...}`` or ``{'net': ...}``. Optimizer
    and scheduler entries in the same file are tolerated and ignored.
    """
    path = Path(path)
    ckpt = _load(path)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a dict of entries such as {keys}")
    key = next((k for k in keys if k in ckpt), None)
    if key is None:
        present = ", ".join(repr(k) for k in ckpt) or "none"
        raise CheckpointError(f"{path} has none of the keys {', '.join(map(repr, keys))}; keys present: {present}")
    state = ckpt[key]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: entry {key!r} is a {type(state).__name__}, not a state dict")
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entry {key!r} is not a state dict (non-tensor values at {bad[:5]})")
    return {str(k): v for k, v in state.items()}


# ------------------------------------------------------------------------------------ state dicts

M = TypeVar("M", bound=nn.Module)


def load_state_dict_checked(
    module: M,
    state: Mapping[str, Tensor],
    source: str | Path,
    ignore_prefixes: tuple[str, ...] = ("clip_model.",),
) -> M:
    """Load ``state`` into ``module`` strictly, after checking every key and shape.

    ``torch``'s own errors list problems without the file; this names ``source`` (the checkpoint
    path), the key and both shapes, so a user with the wrong file or a wrong ``opt.txt`` sees why.
    Keys starting with ``ignore_prefixes`` (MoMask's frozen CLIP, never saved) are skipped on both
    sides. Returns the module.
    """

    def kept(key: str) -> bool:
        return not key.startswith(ignore_prefixes)

    expected = {k: v for k, v in module.state_dict().items() if kept(k)}
    given = {k: v for k, v in state.items() if kept(k)}
    problems = [f"missing key {k!r} (model expects shape {tuple(v.shape)})"
                for k, v in expected.items() if k not in given]
    problems += [f"unexpected key {k!r} (checkpoint shape {tuple(v.shape)})"
                 for k, v in given.items() if k not in expected]
    problems += [f"shape mismatch for {k!r}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
                 for k, v in given.items() if k in expected and v.shape != expected[k].shape]
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__} ({len(problems)} problem(s); wrong file, or "
            f"opt.txt/config does not match the weights):\n  " + "\n  ".join(problems[:20]) + more
        )
    result = module.load_state_dict(dict(given), strict=False)
    left = [k for k in (*result.missing_keys, *result.unexpected_keys) if kept(k)]
    if left:  # cannot happen after the checks above; kept as a guard for non-standard modules
        raise CheckpointError(f"{source}: keys not loaded into {type(module).__name__}: {left[:10]}")
    return module


# ------------------------------------------------------------------------------------- folder layout

_VQ_OPT_KEYS = {"nb_code", "code_dim", "num_quantizers"}
_TRANS_OPT_KEYS = {"latent_dim", "n_heads", "n_layers", "vq_name"}


def _opt_folders(root: Path) -> list[tuple[Path, dict[str, object]]]:
    """Sub-folders of ``root`` holding a readable opt.txt, de-duplicated through symlinks (HMU's rvq/mtrans)."""
    seen: set[Path] = set()
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        real = sub.resolve()
        if real in seen or not (sub / "opt.txt").is_file():
            continue
        seen.add(real)
        try:
            out.append((sub, parse_opt(sub / "opt.txt")))
        except CheckpointError:
            continue  # not an options file we understand (e.g. an unrelated folder)
    return out


def _first_file(folder: Path, names: Iterable[str]) -> Path | None:
    return next((folder / "model" / n for n in names if (folder / "model" / n).is_file()), None)


def official_files(path: str | Path, weights: Iterable[str]) -> tuple[Path, Path]:
    """``(opt.txt, weights file)`` of an official run folder, or of one of its ``model/*.tar`` files.

    ``path`` is the folder (the first of ``weights`` present in its ``model/`` is used) or the
    ``.tar`` itself (its ``opt.txt`` is two levels up, as the training scripts lay them out).
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path.parent.parent / "opt.txt", path
    names = tuple(weights)
    found = _first_file(path, names)
    if found is None:
        raise CheckpointError(f"{path} holds none of {', '.join(f'model/{n}' for n in names)}; "
                              f"{GET_CHECKPOINTS_HINT}")
    return path / "opt.txt", found


def official_layout(folder: str | Path) -> dict[str, Path]:
    """Locate the official MoMask (and optionally BAMM) files under a ``checkpoints/t2m/``-style folder.

    Folder names are not assumed: folders are recognised from their ``opt.txt`` (VQ: nb_code/
    code_dim/num_quantizers; transformers: latent_dim/n_heads/n_layers/vq_name; BAMM: a ``trans``
    option), masked vs residual from the key inside their checkpoint, and the transformers are
    linked to the VQ through ``vq_name`` (a folder name, e.g. HMU's ``rvq`` symlink, or a VQ opt's
    ``name``). ``folder`` may also be the ``checkpoints/`` folder that contains ``t2m/``.

    Returns paths under the keys ``root``, ``vq``, ``vq_opt``, ``vq_weights``, ``vq_mean``,
    ``vq_std``, ``mask``, ``mask_opt``, ``mask_weights``, ``res``, ``res_opt``, ``res_weights``,
    ``length_weights`` and, when a BAMM run folder is present, ``bamm``, ``bamm_opt``,
    ``bamm_weights``. Raises :class:`CheckpointError` listing everything missing and where to get it.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise CheckpointError(f"official checkpoint folder {root} does not exist; {GET_CHECKPOINTS_HINT}")
    if not any((p / "opt.txt").is_file() for p in root.iterdir() if p.is_dir()) and (root / "t2m").is_dir():
        root = root / "t2m"

    folders = _opt_folders(root)
    vqs = [(p, o) for p, o in folders if _VQ_OPT_KEYS <= o.keys() and "latent_dim" not in o]
    transformers = [(p, o) for p, o in folders if _TRANS_OPT_KEYS <= o.keys()]

    missing: list[str] = []
    found: dict[str, Path] = {"root": root}

    # Masked, residual and BAMM share one options class, so ask the checkpoint which model it holds
    # (BAMM's opt.txt also has a 'trans' option, which MoMask's lacks).
    masks, ress, bamms = [], [], []
    for path, opt in transformers:
        weights = _first_file(path, MASK_WEIGHTS)
        if weights is None:
            missing.append(f"weights of the transformer in {path} (expected {path / 'model' / 'latest.tar'} "
                           f"or net_best_fid.tar)")
            continue
        kind, keys = _transformer_kind(weights)
        if kind == "res":
            ress.append((path, opt, _first_file(path, RES_WEIGHTS)))
        elif kind == "bamm" or (kind == "mask" and "trans" in opt):
            bamms.append((path, opt, weights))
        elif kind == "mask":
            masks.append((path, opt, weights))
        else:
            present = ", ".join(sorted(keys)) or "none"
            raise CheckpointError(f"{weights} holds neither a masked ({', '.join(MASK_KEYS)}) nor a residual "
                                  f"({', '.join(RES_KEYS)}) transformer; keys present: {present}")

    def resolve_vq(owner: Path, vq_name: object) -> Path | None:
        name = str(vq_name)
        vq_real = {p.resolve(): p for p, _ in vqs}
        direct = root / name  # a folder (or HMU's 'rvq' symlink) named like vq_name
        by_dir = [vq_real[direct.resolve()]] if direct.is_dir() and direct.resolve() in vq_real else []
        by_opt = [p for p, o in vqs if str(o.get("name")) == name]
        hit = (by_dir or by_opt or [None])[0]
        if hit is None:
            missing.append(f"the VQ folder {root / name} named by vq_name in {owner / 'opt.txt'}")
        return hit

    def pick(kind: str, candidates: list) -> Any:
        if len(candidates) > 1:
            names = ", ".join(str(c[0]) for c in candidates)
            raise CheckpointError(f"{root} holds several {kind} folders ({names}); keep one (or link one)")
        return candidates[0] if candidates else None

    vq_dirs: dict[str, Path | None] = {}
    for key, what, candidates, weights, example in (
        ("mask", "masked transformer", masks, MASK_WEIGHTS, "t2m_nlayer8_nhead6_ld384_ff1024_cdp0.1_rvq6ns"),
        ("res", "residual transformer", ress, RES_WEIGHTS, "tres_nlayer8_ld384_ff1024_rvq6ns_cdp0.2_sw"),
        ("bamm", "BAMM", bamms, MASK_WEIGHTS, None),  # optional
    ):
        hit = pick(what.replace(" ", "-"), candidates)
        if hit is None:
            if example is not None:
                missing.append(f"the {what} folder (opt.txt + model/{weights[0]}), e.g. {root / example}")
            continue
        found.update({key: hit[0], f"{key}_opt": hit[0] / "opt.txt", f"{key}_weights": hit[2]})
        vq_dirs[what] = resolve_vq(hit[0], hit[1]["vq_name"])

    if len({p.resolve() for p in vq_dirs.values() if p is not None}) > 1:
        raise CheckpointError("the transformers name different VQ models: "
                              + ", ".join(f"{k} -> {v}" for k, v in vq_dirs.items())
                              + "; they must share one RVQ-VAE (BAMM reuses MoMask's)")
    vq = next((p for p in vq_dirs.values() if p is not None), None)
    if vq is None and not vq_dirs:  # no transformer to link from: accept a single VQ folder
        vq = pick("VQ", vqs)[0] if vqs else None
        if vq is None:
            missing.append(f"the VQ folder, e.g. {root / 'rvq_nq6_dc512_nc512_noshare_qdp0.2'}")
    if vq is not None:
        found.update(vq=vq, vq_opt=vq / "opt.txt")
        for key, rel in (("vq_weights", f"model/{VQ_WEIGHTS[0]}"), ("vq_mean", "meta/mean.npy"),
                         ("vq_std", "meta/std.npy")):
            if (vq / rel).is_file():
                found[key] = vq / rel
            else:
                missing.append(str(vq / rel))

    length = root / "length_estimator" / "model" / LENGTH_WEIGHTS[0]
    if length.is_file():
        found["length_weights"] = length
    else:
        missing.append(str(length))

    if missing:
        raise CheckpointError(f"incomplete official checkpoints in {root}; missing:\n  - "
                              + "\n  - ".join(dict.fromkeys(missing)) + f"\n{GET_CHECKPOINTS_HINT}")
    return found
