"""The loop the training-based methods share: low-rank adapters on each base transformer, an objective
per step, a progress bar, a resumable state, and the changed weights as an :class:`Edit`'s tensors.

Each base transformer of the bundle (MoMask's masked transformer, BAMM's when the bundle has one) is
fine-tuned on its own, so one edit serves both backbones and an edit of one never reads the other's
weights; the residual transformer, the VQ and the length estimator are not touched. The bundle itself
is never modified: adapters go on a private copy of each network, and the original network is the
frozen reference the objectives compare against.

Resumable: every :data:`SAVE_SECONDS` (and when interrupted) the adapters, the optimiser and the random
state go to ``STATE_DIR/<key>.pt``, the key being a digest of the method, concept, hyperparameters and
the base weights; running the same edit again continues from there, and the file is removed when done.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from hmu_demo.atomic import atomic_path
from hmu_demo.config import REPO_ROOT
from hmu_demo.unlearning.lora import adapter_factors, add_adapters, remove_adapters
from hmu_demo.unlearning.finetune_data import TokenSet

__all__ = ["SAVE_SECONDS", "STATE_DIR", "FineTuneSettings", "StepFunction", "base_networks", "check_settings",
           "finetune_networks"]

STATE_DIR = Path(os.environ.get("HMU_FINETUNE_STATE", REPO_ROOT / "outputs" / "finetune_state"))
SAVE_SECONDS = 60.0
MAX_STEPS = 100_000

#: ``step(edited, original, forget, retain, generator) -> (loss, metrics)``; the batches are
#: (ids, lengths, cond) triples drawn by the loop.
StepFunction = Callable[[nn.Module, nn.Module, tuple[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor] | None,
                         torch.Generator], tuple[Tensor, dict[str, float]]]


@dataclass(frozen=True)
class FineTuneSettings:
    """The loop's hyperparameters (each method sets its own defaults)."""

    steps: int
    lr: float
    batch_size: int
    rank: int
    alpha: float
    seed: int = 0


def check_settings(settings: FineTuneSettings) -> None:
    """Clear messages for impossible values."""
    for name, low, high in (("steps", 1, MAX_STEPS), ("batch_size", 1, 4096), ("rank", 1, 1024)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    for name in ("lr", "alpha"):
        value = getattr(settings, name)
        if not (isinstance(value, (int, float)) and 0 < float(value) < 1e4):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def base_networks(bundle) -> dict[str, nn.Module]:
    """The base transformers of the bundle by state-dict prefix: "masked" and, when present, "bamm"."""
    nets = {"masked": bundle.masked}
    if getattr(bundle, "bamm", None) is not None:
        nets["bamm"] = bundle.bamm
    return nets


def _state_key(identity: Mapping[str, object], prefix: str, net: nn.Module) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode() + prefix.encode())
    for name, value in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().to("cpu").contiguous().view(-1)[:4096].float().numpy().tobytes())
    return digest.hexdigest()[:24]


def _draw(data: TokenSet, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    rows = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)
    return data.batch(rows)


def _finetune_one(prefix: str, original: nn.Module, step: StepFunction, forget: TokenSet, retain: TokenSet | None,
                  settings: FineTuneSettings, identity: Mapping[str, object], progress: bool
                  ) -> tuple[dict[str, tuple[Tensor, Tensor]], dict]:
    device = next(original.parameters()).device
    edited = copy.deepcopy(original).eval()
    adapters = add_adapters(edited, settings.rank, settings.alpha, generator_seed=settings.seed)
    params = [p for a in adapters.values() for p in a.parameters()]
    optimiser = torch.optim.AdamW(params, lr=float(settings.lr), weight_decay=0.0)
    generator = torch.Generator().manual_seed(settings.seed)
    state_path = STATE_DIR / f"{_state_key(identity, prefix, original)}.pt"
    start_step = 0
    if state_path.is_file():
        try:
            saved = torch.load(state_path, map_location=device, weights_only=True)
            for name, adapter in adapters.items():
                adapter.load_state_dict(saved["adapters"][name])
            optimiser.load_state_dict(saved["optimiser"])
            generator.set_state(saved["generator"])
            start_step = int(saved["step"])
        except (OSError, RuntimeError, KeyError, ValueError):
            start_step = 0  # a damaged state is only a cache: start again

    def save(at: int) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        with atomic_path(state_path) as tmp:
            torch.save({"step": at, "adapters": {n: a.state_dict() for n, a in adapters.items()},
                        "optimiser": optimiser.state_dict(), "generator": generator.get_state()}, tmp)

    forget, retain = forget.to(device), None if retain is None else retain.to(device)
    history: list[dict] = []
    last_save = time.monotonic()
    bar = tqdm(total=settings.steps, initial=start_step, desc=prefix, unit="step", disable=not progress,
               leave=False)
    at = start_step
    try:
        for at in range(start_step, settings.steps):
            before_step = generator.get_state()
            loss, metrics = step(edited, original, _draw(forget, settings.batch_size, generator),
                                 None if retain is None else _draw(retain, settings.batch_size, generator), generator)
            optimiser.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
                optimiser.step()
            bar.update(1)
            if at % max(1, settings.steps // 10) == 0 or at == settings.steps - 1:
                history.append({"step": at + 1, **{k: round(float(v), 4) for k, v in metrics.items()}})
                bar.set_postfix({k: f"{float(v):.3f}" for k, v in metrics.items()})
            if time.monotonic() - last_save > SAVE_SECONDS:
                save(at + 1)
                last_save = time.monotonic()
    except BaseException:
        if at > start_step:  # interrupted (Ctrl-C, a cancel) mid-step: the next run redoes this step
            generator.set_state(before_step)
            save(at)
        raise
    finally:
        bar.close()
    factors = adapter_factors(adapters)
    remove_adapters(edited, adapters)
    state_path.unlink(missing_ok=True)
    return factors, {"resumed_at": start_step, "history": history}


def finetune_networks(bundle, step: StepFunction, forget: TokenSet, retain: TokenSet | None,
                      settings: FineTuneSettings, identity: Mapping[str, object], progress: bool = True
                      ) -> tuple[dict[str, tuple[Tensor, Tensor]], dict[str, Tensor], dict]:
    """Fine-tune adapters on every base transformer of ``bundle`` with ``step``: (the trained low-rank
    change of each adapted weight as (up, down) factors, the original weights, diagnostics), names
    prefixed ("masked.…")."""
    check_settings(settings)
    deltas: dict[str, tuple[Tensor, Tensor]] = {}
    originals: dict[str, Tensor] = {}
    details: dict = {}
    for prefix, net in base_networks(bundle).items():
        with torch.enable_grad():
            changes, info = _finetune_one(prefix, net, step, forget, retain, settings, identity, progress)
        weights = dict(net.named_parameters())
        for name, delta in changes.items():
            deltas[f"{prefix}.{name}"] = delta
            originals[f"{prefix}.{name}"] = weights[name].detach()
        details[prefix] = info
    return deltas, originals, details
