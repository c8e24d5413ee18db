"""Convert an official SMPL ``.pkl`` (chumpy objects inside) to a plain ``.npz``, without chumpy.

chumpy does not install on Python 3.11 / NumPy 2, but its pickled arrays are plain NumPy arrays
stored in each object's state under ``x``; this reads them through stand-in classes, so no
chumpy code is needed and none runs.

    python -m hmu_demo.render.smpl_convert basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl \\
        checkpoints/smpl/SMPL_NEUTRAL.npz
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hmu_demo.render.body_smpl import REQUIRED_KEYS, SafeUnpickler, SmplModelError, load_smpl_data


class ChumpyStandIn:
    """Takes the place of any chumpy class while unpickling; keeps the pickled state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ConvertingUnpickler(SafeUnpickler):
    def chumpy_class(self, module: str, name: str) -> Any:
        return type(name, (ChumpyStandIn,), {"__module__": module})


def _plain(value: Any, key: str) -> Any:
    if isinstance(value, ChumpyStandIn):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" not in state:
            raise SmplModelError(f"{key}: chumpy object of type {type(value).__name__} holds no array")
        return np.asarray(state["x"])
    return value


def convert(src: Path, dst: Path) -> Path:
    """Write ``dst`` (.npz) with the arrays SMPL needs, dense, from ``src`` (.pkl)."""
    with open(src, "rb") as handle:
        raw = _ConvertingUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
    out = {}
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise SmplModelError(f"{src} lacks {key}")
        value = _plain(raw[key], key)
        out[key] = np.asarray(value.todense() if hasattr(value, "todense") else value)
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, **out)
    load_smpl_data(dst)  # check what we wrote
    return dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.render.smpl_convert", description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path, help="SMPL .pkl (e.g. basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl)")
    parser.add_argument("dst", type=Path, help="output .npz, e.g. checkpoints/smpl/SMPL_NEUTRAL.npz")
    args = parser.parse_args(argv)
    try:
        convert(args.src, args.dst)
    except (OSError, SmplModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
