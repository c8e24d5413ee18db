"""Nested states (tensors among plain values) in one safetensors file: what ``torch.save`` did, minus the pickle.

Resumable training states and caches are trees: dicts and lists holding tensors (model and optimiser
state dicts, RNG states) next to plain values (step, best score, param groups, a cache key).
``torch.save`` pickles such trees, and loading a pickle can run code, so the project writes none.
Here the tensors go into a safetensors file under flattened string keys (``optimizer.state.0.exp_avg``)
and the rest of the tree into the file's header metadata as JSON, with a SHA-256 of the tensor bytes:

- one file, so one atomic rename (:func:`hmu_demo.atomic.atomic_path`) publishes tensors and structure
  together; a killed writer leaves the previous file, never a half-written or mismatched one;
- Python types come back as they were: int dict keys (optimiser ``state``), tuples (``betas``),
  bool/int/float/None/str, non-finite floats, and tensors with their dtype, shape and bits (on the
  CPU, contiguous); dicts keep their order, an ``OrderedDict`` comes back as a plain dict;
- a truncated, corrupt or foreign file raises :class:`StateFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from hmu_demo.atomic import atomic_path

__all__ = ["FORMAT", "StateFileError", "save_state", "load_state"]

FORMAT = "hmu-state/1"
_FORMAT_KEY, _TREE_KEY, _DIGEST_KEY = "hmu_format", "hmu_tree", "hmu_sha256"
Tree = Any  # dict | list | tuple | torch.Tensor | str | int | float | bool | None, nested


class StateFileError(ValueError):
    """A state file that cannot be read back as it was written (truncated, corrupt, not ours)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}; remove it to start over")
        self.path = path


# ------------------------------------------------------------------------------------- writing


def _join(prefix: str, part: object) -> str:
    return f"{prefix}.{part}" if prefix else str(part)


def _free_key(wanted: str, tensors: dict[str, torch.Tensor]) -> str:
    """``wanted``, or ``wanted#n`` when dotted names collide (keys that contain dots themselves)."""
    key, n = wanted or "tensor", 1
    while key in tensors:
        key, n = f"{wanted}#{n}", n + 1
    return key


def _encode(node: Tree, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """The JSON form of ``node``; its tensors are moved into ``tensors`` (CPU copies, so none share memory).

    Every JSON object in the result is a one-key tag ({"tensor"|"dict"|"tuple"|"float": ...}), so plain
    JSON values never need escaping and dict keys keep their type."""
    if isinstance(node, torch.Tensor):
        key = _free_key(path, tensors)
        tensors[key] = node.detach().to("cpu", copy=True).contiguous()
        return {"tensor": key}
    if node is None or isinstance(node, (bool, str)):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node) if math.isfinite(node) else {"float": repr(float(node))}
    if isinstance(node, (list, tuple)):
        items = [_encode(v, _join(path, i), tensors) for i, v in enumerate(node)]
        return items if isinstance(node, list) else {"tuple": items}
    if isinstance(node, dict):
        return {"dict": [[_encode_key(k, path), _encode(v, _join(path, k), tensors)] for k, v in node.items()]}
    raise TypeError(f"{path or 'the state'}: a {type(node).__name__} cannot be stored "
                    "(only tensors, dicts, lists, tuples, str, int, float, bool and None)")


def _encode_key(key: object, path: str) -> Any:
    if key is not None and not isinstance(key, (str, int, float)):
        raise TypeError(f"{path or 'the state'}: dict keys must be str, int, float, bool or None, got {key!r}")
    return _encode(key, path, {})


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of every tensor's name, dtype, shape and bytes: bit rot in the data shows up on load."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
        if t.numel():
            h.update(memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def save_state(obj: Tree, path: Path | str) -> None:
    """Write ``obj`` to ``path`` atomically: a unique temporary file in the same folder (concurrent writers
    do not collide), flushed to disk, then renamed."""
    tensors: dict[str, torch.Tensor] = {}
    tree = json.dumps(_encode(obj, "", tensors), allow_nan=False, separators=(",", ":"))
    metadata = {"format": "pt", _FORMAT_KEY: FORMAT, _TREE_KEY: tree, _DIGEST_KEY: _digest(tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        _fsync(tmp)


# ------------------------------------------------------------------------------------- reading


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            return fh.metadata() or {}, {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:  # truncated, bad header, a folder, unreadable
        raise StateFileError(path, f"not a readable safetensors file ({exc})") from exc


def _decode(node: Any, tensors: dict[str, torch.Tensor], used: set[str]) -> Tree:
    if isinstance(node, list):
        return [_decode(v, tensors, used) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        raise ValueError(f"untagged object {sorted(node)}")
    (tag, value), = node.items()
    if tag == "tensor":
        used.add(value)
        return tensors[value]
    if tag == "dict":
        return {_decode(k, tensors, used): _decode(v, tensors, used) for k, v in value}
    if tag == "tuple":
        return tuple(_decode(v, tensors, used) for v in value)
    if tag == "float":
        return float(value)
    raise ValueError(f"unknown tag {tag!r}")


def load_state(path: Path | str) -> Tree:
    """What :func:`save_state` wrote to ``path`` (tensors on the CPU); :class:`StateFileError` if it is damaged."""
    path = Path(path)
    metadata, tensors = _read(path)
    if metadata.get(_FORMAT_KEY) != FORMAT:
        raise StateFileError(path, f"not a state file of format {FORMAT} (found {metadata.get(_FORMAT_KEY)!r})")
    if metadata.get(_DIGEST_KEY) != _digest(tensors):
        raise StateFileError(path, "tensor data does not match its checksum (corrupt file)")
    used: set[str] = set()
    try:
        obj = _decode(json.loads(metadata[_TREE_KEY]), tensors, used)
    except (KeyError, ValueError, TypeError) as exc:
        raise StateFileError(path, f"structure does not match its tensors ({exc!r})") from exc
    if used != set(tensors):
        raise StateFileError(path, f"tensors not referenced by its structure: {sorted(set(tensors) - used)[:5]}")
    return obj
