"""Edits on disk: only what an edit changed, so an edit is kilobytes-to-megabytes, not a second bundle.

Folder layout (written by ``python -m hmu_demo.unlearn``, read by ``--edit DIR`` of the generator)::

    DIR/edit.safetensors   the edited tensors by their bundle path ("masked.cond_emb.weight",
                           "vq.quantizer.layers.0.codebook", ...) and the sampling constraint's buffers:
                           LCR-gated's gate ("gate.forbidden", "gate.motion_text", "gate.motion_forget")
                           or segment repair's ("repair.scores", "repair.forbidden", "repair.gate.*");
                           a low-rank change (the fine-tuning methods) as its factors
                           ("lowrank.<name>.up", "lowrank.<name>.down"), not the matrix; a gated weight
                           edit's routing gate ("route.*")
    DIR/edit.json          {"format": "hmu-edit", "version": 1, "backbone", "report": EditReport,
                            "gate": gate settings or null, "repair": segment repair settings (absent
                            without one), "low_rank": names stored as factors (absent without),
                            "route": the routing gate's settings (absent without one),
                            "base": fingerprints of the base bundle,
                            "weights_sha256": SHA-256 of edit.safetensors}

Written atomically: a new folder appears whole (built in a hidden sibling, then renamed); an
existing one gets its weights, then edit.json, and the checksum catches a pair a kill split.

The base fingerprints (SHA-256 of the original values of every edited tensor and of the layer-0
codebook) make :func:`load_edit` refuse an edit made for another bundle: flagged code ids or a
``cond_emb`` delta mean nothing on other weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from hmu_demo.atomic import atomic_folder, atomic_path
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.gate import ConceptGate
from hmu_demo.unlearning.lora import low_rank_update
from hmu_demo.unlearning.repair import SegmentRepair
from hmu_demo.unlearning.report import EditReport

__all__ = ["EDIT_JSON", "EDIT_WEIGHTS", "EditError", "load_edit", "read_edit_meta", "save_edit"]

FORMAT = "hmu-edit"
VERSION = 1
EDIT_JSON = "edit.json"
EDIT_WEIGHTS = "edit.safetensors"
GATE_PREFIX = "gate."
REPAIR_PREFIX = "repair."
LOW_RANK_PREFIX = "lowrank."
ROUTE_PREFIX = "route."
PREFIXES = (GATE_PREFIX, REPAIR_PREFIX, LOW_RANK_PREFIX, ROUTE_PREFIX)
CODEBOOK0 = "vq.quantizer.layers.0.codebook"


class EditError(ValueError):
    """An edit folder is missing, corrupt, or made for another bundle (the message says which)."""


def _fingerprint(t: Tensor) -> str:
    data = t.detach().to("cpu").contiguous()
    digest = hashlib.sha256(str(tuple(data.shape)).encode() + str(data.dtype).encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def _tensors(module: torch.nn.Module) -> dict[str, Tensor]:
    return dict(module.state_dict(keep_vars=True))


def save_edit(original: torch.nn.Module, edit: Edit, folder: str | os.PathLike, backbone: str = "momask") -> Path:
    """Write ``edit`` (made for ``original``) to ``folder``: a new folder appears whole in one rename;
    into an existing one the weights go first and edit.json (holding their SHA-256) last, so a kill in
    between leaves a pair that :func:`load_edit` recognises as mismatched, never a silent mix."""
    folder = Path(folder)
    before = _tensors(original)
    unknown = [n for n in edit.tensors if n not in before or n.startswith(PREFIXES)]
    unknown += [n for n in edit.factors if n not in edit.tensors]
    if unknown:
        raise EditError(f"the edit names tensors the original lacks: {', '.join(unknown)}")
    fingerprints = {n: _fingerprint(before[n]) for n in edit.tensors}
    if CODEBOOK0 in before:
        fingerprints[CODEBOOK0] = _fingerprint(before[CODEBOOK0])
    constraint = edit.constraint
    if constraint is not None and not isinstance(constraint, (ConceptGate, SegmentRepair)):
        raise EditError(f"cannot save a {type(constraint).__name__} sampling constraint (only the concept gate "
                        "and segment repair)")
    prefix = REPAIR_PREFIX if isinstance(constraint, SegmentRepair) else GATE_PREFIX
    tensors = {n: t.detach().to("cpu").contiguous().clone() for n, t in edit.tensors.items() if n not in edit.factors}
    for n, (up, down) in edit.factors.items():
        tensors[f"{LOW_RANK_PREFIX}{n}.up"] = up.detach().to("cpu").contiguous().clone()
        tensors[f"{LOW_RANK_PREFIX}{n}.down"] = down.detach().to("cpu").contiguous().clone()
    if edit.route is not None:
        if not isinstance(edit.route, ConceptGate):
            raise EditError(f"cannot save a {type(edit.route).__name__} route (only a concept gate)")
        tensors.update({ROUTE_PREFIX + n: t.detach().to("cpu").contiguous().clone()
                        for n, t in edit.route.state_dict().items()})
    if constraint is not None:
        tensors.update({prefix + n: t.detach().to("cpu").contiguous().clone()
                        for n, t in constraint.state_dict().items()})
    gate = constraint if isinstance(constraint, ConceptGate) else None
    meta = {"format": FORMAT, "version": VERSION, "backbone": backbone, "report": edit.report.to_dict(),
            "gate": None if gate is None else gate.config(),
            **({"repair": constraint.config()} if isinstance(constraint, SegmentRepair) else {}),
            **({"low_rank": sorted(edit.factors)} if edit.factors else {}),
            **({"route": edit.route.config()} if edit.route is not None else {}),
            "base": {"fingerprints": fingerprints,
                     "text_encoder": getattr(getattr(original, "config", None), "text_encoder", None)}}
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if not folder.exists():
        with atomic_folder(folder, replace=False) as staging:
            _write_pair(tensors, meta, staging / EDIT_WEIGHTS, staging / EDIT_JSON)
        return folder
    # the managers publish in reverse order of entry: the weights first, edit.json last
    with atomic_path(folder / EDIT_JSON) as info, atomic_path(folder / EDIT_WEIGHTS) as weights:
        _write_pair(tensors, meta, weights, info)
    return folder


def _write_pair(tensors: dict[str, Tensor], meta: dict, weights: Path, info: Path) -> None:
    save_file(tensors, str(weights))
    meta["weights_sha256"] = _file_sha256(weights)
    info.write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_edit_meta(folder: str | os.PathLike) -> dict:
    """edit.json of an edit folder, checked."""
    path = Path(folder) / EDIT_JSON
    if not path.is_file():
        raise EditError(f"{folder} is not an edit folder (no {EDIT_JSON}); make one with python -m hmu_demo.unlearn")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EditError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise EditError(f"{path} is not an HMU edit (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise EditError(f"{path} has version {meta.get('version')!r}; this program reads version {VERSION}")
    return meta


def load_edit(bundle: torch.nn.Module, folder: str | os.PathLike) -> tuple[Edit, dict]:
    """A saved edit, checked against ``bundle``: (the Edit, edit.json contents).

    Refuses (EditError) a folder that is incomplete or corrupt, or whose base fingerprints do not
    match ``bundle``. Apply it with ``edit.apply(bundle)``; nothing is modified.
    """
    meta = read_edit_meta(folder)
    report = EditReport.from_dict(meta.get("report"))
    path = Path(folder) / EDIT_WEIGHTS
    if not path.is_file():
        raise EditError(f"{folder} has no {EDIT_WEIGHTS}")
    expected = meta.get("weights_sha256")
    if expected is not None and _file_sha256(path) != expected:
        raise EditError(f"{path} does not match {EDIT_JSON} (an interrupted write?); make the edit again")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise EditError(f"{path} cannot be read: {err}") from err
    before = _tensors(bundle)
    base = meta.get("base") or {}
    for name, digest in (base.get("fingerprints") or {}).items():
        if name not in before:
            raise EditError(f"this edit changes {name}, which the bundle does not have: it was made for another bundle")
        if _fingerprint(before[name]) != digest:
            raise EditError(f"this edit was made for another bundle ({name} differs); make it again for this one")
    weights = {n: t for n, t in tensors.items() if not n.startswith(PREFIXES)}
    factors = {}
    for name in meta.get("low_rank") or ():
        up, down = tensors.get(f"{LOW_RANK_PREFIX}{name}.up"), tensors.get(f"{LOW_RANK_PREFIX}{name}.down")
        if up is None or down is None or name not in before:
            raise EditError(f"{path}: the low-rank factors of {name} are missing or do not fit this bundle")
        base_shape = tuple(before[name].shape)
        fits = up.dim() == down.dim() == 2 and (up.shape[0], down.shape[1]) == base_shape
        if not fits or up.shape[1] != down.shape[0]:
            raise EditError(f"{path}: the low-rank factors of {name} do not fit its shape {base_shape}")
        factors[name] = (up, down)
        weights[name] = low_rank_update(before[name], up, down).cpu()
    for name, t in weights.items():
        if name not in before or tuple(before[name].shape) != tuple(t.shape):
            raise EditError(f"{path}: tensor {name} {tuple(t.shape)} does not fit this bundle")
        if not torch.isfinite(t).all():
            raise EditError(f"{path}: tensor {name} has non-finite values")
    codebook = before.get(CODEBOOK0)
    constraint = route = None
    try:
        if meta.get("route") is not None:
            route = _gate(meta["route"], tensors, ROUTE_PREFIX).to(codebook.device if codebook is not None else "cpu")
        if meta.get("gate") is not None:
            constraint = _gate(meta["gate"], tensors, GATE_PREFIX)
        elif meta.get("repair") is not None:
            constraint = _repair(meta["repair"], tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise EditError(f"{folder}: the sampling constraint of this edit is incomplete: "
                        f"{type(err).__name__}: {err}") from err
    if constraint is not None:
        if codebook is not None and constraint.forbidden.shape[0] != codebook.shape[0]:
            raise EditError(f"{folder}: the edit's constraint covers {constraint.forbidden.shape[0]} codes, the "
                            f"bundle has {codebook.shape[0]}")
        constraint = constraint.to(codebook.device if codebook is not None else "cpu")
    return Edit(report, weights, constraint, factors, route), meta


def _gate(config: dict, tensors: dict[str, Tensor], prefix: str) -> ConceptGate:
    return ConceptGate(config["concept"], config["keywords"], tensors[prefix + "forbidden"],
                       tensors[prefix + "motion_text"], tensors[prefix + "motion_forget"],
                       neighbours=int(config["neighbours"]), threshold=float(config["threshold"]),
                       match=str(config.get("match", "word")))


def _repair(config: dict, tensors: dict[str, Tensor]) -> SegmentRepair:
    gate = None if config.get("gate") is None else _gate(config["gate"], tensors, REPAIR_PREFIX + "gate.")
    return SegmentRepair(config["concept"], tensors[REPAIR_PREFIX + "scores"], tensors[REPAIR_PREFIX + "forbidden"],
                         window=int(config["window"]), threshold=float(config["threshold"]),
                         margin=int(config["margin"]), rounds=int(config["rounds"]),
                         condition=str(config["condition"]), gate=gate, premask=bool(config.get("premask", False)),
                         text_threshold=float(config.get("text_threshold", 0.0)))
