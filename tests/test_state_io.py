"""hmu_demo.train.state_io: nested training states in safetensors + JSON, never a pickle."""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path

import pytest
import torch
from torch import nn

from hmu_demo.train import state_io
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.loop import LEGACY_STATE_FILE, STATE_FILE, RunSpec, Schedule, run
from hmu_demo.train.state_io import StateFileError, load_state, save_state
from hmu_demo.train.transformer import TOKENS_FILE, _read_token_cache


def _same(a, b) -> None:
    """Equal values of the same Python types (OrderedDict -> dict), tensors bit for bit (NaN included)."""
    assert type(b) is dict if isinstance(a, dict) else type(a) is type(b), (a, b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device
        assert torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)) if a.numel() else True
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b)
    else:
        assert a == b


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 3))


def _train(net: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, steps: int) -> None:
    for _ in range(steps):
        x = torch.randn(8, 6, generator=gen)
        y = torch.randn(8, 3, generator=gen)
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _training_state(steps: int = 3) -> tuple[nn.Module, torch.optim.Optimizer, torch.Generator, dict]:
    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=1e-5)
    gen = torch.Generator().manual_seed(7)
    _train(net, opt, gen, steps)
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "rng": [gen.get_state()],
             "step": steps, "best": 0.25, "total": None, "seconds": 1.5}
    return net, opt, gen, state


def test_round_trip_keeps_types_and_bits(tmp_path: Path) -> None:
    obj = {
        "tensors": {"f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 2).bfloat16(),
                    "i64": torch.arange(6).reshape(2, 3), "bool": torch.tensor([True, False]),
                    "u8": torch.tensor([0, 255], dtype=torch.uint8), "scalar": torch.tensor(3.5),
                    "empty": torch.zeros(0, 4), "strided": torch.arange(12.0).reshape(3, 4).t(),
                    "nan": torch.tensor([float("nan"), float("-inf")])},
        7: {"a": 1, "b.c": torch.ones(1)}, "7": "seven", "7.b.c": torch.zeros(1),  # int key; colliding dotted paths
        "floats": [0.1, -0.0, float("nan"), float("inf"), 1e300, 2.0], "ints": [0, -3, 10 ** 20, True, False],
        "none": None, "tuple": (0.9, (1, "x"), []), "nested": [[{"k": [torch.tensor([1, 2])]}]], "empty": {},
        "key types": {None: 1, 1.5: 2, True: 3, 2: 4},
    }
    save_state(obj, tmp_path / "s.safetensors")
    back = load_state(tmp_path / "s.safetensors")
    _same(obj, back)
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]  # no temporary file left


def test_training_continues_bit_identically(tmp_path: Path) -> None:
    net, opt, gen, state = _training_state()
    save_state(state, tmp_path / STATE_FILE)
    loaded = load_state(tmp_path / STATE_FILE)
    _same(state, loaded)  # int param ids, (beta1, beta2) tuples, 0-d step tensors, the uint8 RNG state
    _train(net, opt, gen, 4)  # the uninterrupted run (it updates ``state``'s tensors in place, not ``loaded``'s)

    net2 = _net()
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=1e-5)
    gen2 = torch.Generator()
    net2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    gen2.set_state(loaded["rng"][0])
    _train(net2, opt2, gen2, 4)
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(gen.get_state(), gen2.get_state())


def test_files_are_safetensors_and_json_not_pickles(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    save_state(_training_state()[3], path)
    raw = path.read_bytes()
    assert raw[:1] != b"\x80" and not raw.startswith(b"PK")  # neither a pickle nor torch.save's zip
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = len(raw) - 8 - n
    spans = sorted(tuple(v["data_offsets"]) for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and spans[-1][1] == data
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # the data section is tensors, nothing else
    tree = json.loads(header["__metadata__"]["hmu_tree"])
    assert isinstance(tree, dict) and "dict" in tree
    assert "optimizer.state.0.exp_avg" in header and "rng.0" in header and header["rng.0"]["dtype"] == "U8"


def test_damaged_files_raise_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    save_state(_training_state()[3], path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    damaged = {"truncated": raw[:-5], "garbage": b"not a state at all", "empty": b"",
               "flipped": raw[:-3] + bytes([raw[-3] ^ 1]) + raw[-2:]}
    for name, content in damaged.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        with pytest.raises(StateFileError, match=re.escape(str(bad))) as err:
            load_state(bad)
        assert "remove it to start over" in str(err.value), name
    with pytest.raises(StateFileError, match="checksum"):
        load_state(tmp_path / "flipped.safetensors")
    with pytest.raises(FileNotFoundError, match="missing"):
        load_state(tmp_path / "missing.safetensors")


def test_foreign_and_mismatched_files_are_refused(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(2)}, str(plain))
    with pytest.raises(StateFileError, match="not a state file"):
        load_state(plain)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_state({"x": torch.zeros(3), "n": 1}, a)
    save_state({"x": torch.ones(3), "n": 1}, b)
    with safe_open(str(a), "pt") as fh:
        meta_a = fh.metadata()
    mixed = tmp_path / "mixed.safetensors"  # a's structure with b's tensors
    save_file({"x": torch.ones(3)}, str(mixed), metadata=meta_a)
    with pytest.raises(StateFileError, match="checksum"):
        load_state(mixed)
    extra = {"x": torch.zeros(3), "y": torch.zeros(1)}  # consistent checksum, tensors the structure does not know
    save_file(extra, str(mixed), metadata={**meta_a, "hmu_sha256": state_io._digest(extra)})
    with pytest.raises(StateFileError, match="not referenced"):
        load_state(mixed)
    save_file({}, str(mixed), metadata={**meta_a, "hmu_sha256": state_io._digest({})})
    with pytest.raises(StateFileError, match="does not match its tensors"):
        load_state(mixed)


def test_interrupted_or_refused_writes_keep_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.safetensors"
    save_state({"step": 1}, path)
    with pytest.raises(TypeError, match="opt.lr"):
        save_state({"opt": {"lr": object()}}, path)

    class Killed(BaseException):
        pass

    def killed(*args):
        raise Killed

    monkeypatch.setattr(state_io.os, "replace", killed)  # the process dies before the rename
    with pytest.raises(Killed):
        save_state({"step": 2, "w": torch.ones(100)}, path)
    monkeypatch.undo()
    assert load_state(path) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.safetensors"]


# ---------------------------------------------------------------------------- through the training loop


def _spec() -> RunSpec:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def sample(gen):
        x = torch.randn(16, 4, generator=gen)
        return x, x.sum(1, keepdim=True)

    def loss(net, batch):
        return ((net(batch[0]) - batch[1]) ** 2).mean(), {}

    def validate(net):
        x = torch.linspace(-1, 1, 32).reshape(8, 4)
        return {"loss": float(((net(x) - x.sum(1, keepdim=True)) ** 2).mean())}

    return RunSpec("toy", model, sample, loss, validate, lambda net, metrics: None, "loss",
                   schedule=Schedule(lr=1e-2, warmup=1, milestones=()))


def test_loop_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = _spec()
    run(straight, TrainConfig(out=tmp_path / "a", steps=6, val_every=3, quiet=True))
    first = _spec()
    run(first, TrainConfig(out=tmp_path / "b", steps=3, val_every=3, quiet=True))
    assert load_state(tmp_path / "b" / STATE_FILE)["step"] == 3
    resumed = _spec()
    summary = run(resumed, TrainConfig(out=tmp_path / "b", steps=6, val_every=3, quiet=True, resume=True))
    assert summary["steps"] == 6 and "resumed at step 3" in (tmp_path / "b" / "train.log").read_text()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_loop_saves_its_state_between_validations_on_a_timer(tmp_path: Path, monkeypatch) -> None:
    """A slow CPU run killed between validations resumes from its last timed save, not from step 0."""
    import hmu_demo.train.loop as loop
    monkeypatch.setattr(loop, "SAVE_SECONDS", 0.0)
    saved = []
    real = loop.save_state
    monkeypatch.setattr(loop, "save_state", lambda state, path: (saved.append(state["step"]), real(state, path)))
    run(_spec(), TrainConfig(out=tmp_path / "a", steps=5, val_every=100, quiet=True))
    assert saved[:4] == [1, 2, 3, 4] and saved[-1] == 5   # every step (timer 0), then the end's validation
    monkeypatch.setattr(loop, "SAVE_SECONDS", 600.0)
    saved.clear()
    run(_spec(), TrainConfig(out=tmp_path / "b", steps=5, val_every=100, quiet=True))
    assert saved == [5]


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def test_loop_never_unpickles_an_old_state(tmp_path: Path) -> None:
    out, marker = tmp_path / "out", tmp_path / "unpickled"
    out.mkdir()
    torch.save({"step": 3, "x": _Exploit(marker)}, out / LEGACY_STATE_FILE)
    with pytest.raises(RuntimeError, match=f"{LEGACY_STATE_FILE}.*old pickle format.*without --resume"):
        run(_spec(), TrainConfig(out=out, steps=2, val_every=1, quiet=True, resume=True))
    assert not marker.exists() and (out / LEGACY_STATE_FILE).is_file()
    run(_spec(), TrainConfig(out=out, steps=2, val_every=1, quiet=True))  # a fresh run drops it
    assert not marker.exists() and not (out / LEGACY_STATE_FILE).exists()
    assert load_state(out / STATE_FILE)["step"] == 2
    assert "old pickled training state" in (out / "train.log").read_text()


def test_damaged_token_cache_is_rebuilt_not_fatal(tmp_path: Path) -> None:
    cache = tmp_path / TOKENS_FILE
    cache.write_bytes(b"\x00" * 40)
    assert _read_token_cache(cache) == {}
    save_state({"key": "k", "train": {"ids": torch.zeros(2, 3, dtype=torch.long)}}, cache)
    assert _read_token_cache(cache)["key"] == "k"
