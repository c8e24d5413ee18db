"""One training loop for every model: schedule, progress, validation, resumable state, DDP.

Each trainer (``vq``, ``transformer``, ``length``) supplies a model, a batch sampler, a loss and a
validation function; :func:`run` does the rest the same way for all of them:

- AdamW with a linear warm-up and a MultiStep decay at fractions of the run (the official recipes'
  milestones, scaled to the run's length);
- a tqdm progress bar and ``train.log`` in the run's folder (:attr:`TrainConfig.folder`);
- validation every ``val_every`` steps; the weights with the best validation score are exported
  (``export``) as they appear, so an interrupted run still leaves its best model;
- the full training state (model, optimiser, step, RNG, best score) in ``train_state.safetensors``
  (:mod:`hmu_demo.train.state_io`, no pickle) at every validation and at least every
  :data:`SAVE_SECONDS` of training (a slow CPU run killed between validations loses minutes, not
  hours); ``resume`` continues from it
  exactly where it stopped;
- a time budget: ``max_minutes`` stops the run (resumable) once spent; with ``steps`` None the
  number of steps is fitted to the budget after measuring the first ``calibrate`` steps;
- several GPUs through ``torchrun`` (DistributedDataParallel): each process draws its own batches,
  gradients are averaged, rank 0 logs, validates and saves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hmu_demo.atomic import atomic_path, write_text
from hmu_demo.config import resolve_device
from hmu_demo.models.official import load_state_dict_checked
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.state_io import load_state, save_state

__all__ = ["Schedule", "Distributed", "TrainLog", "RunSpec", "run", "run_distributed", "setup_distributed",
           "export_weights", "initialise_from", "read_stage"]

STATE_FILE = "train_state.safetensors"
SAVE_SECONDS = 600.0  # the longest stretch of training a kill can lose between validations
LEGACY_STATE_FILE = "train_state.pt"  # the pickled state of earlier versions: refused, never loaded
LOG_FILE = "train.log"


@dataclass(frozen=True)
class Distributed:
    """Process group facts; ``world == 1`` is the plain single-process run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None) -> Distributed:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1), else single process.

    Under torchrun each process takes GPU ``LOCAL_RANK`` (NCCL); on CPU it uses the gloo backend.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    base = resolve_device(device)
    if base.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 matmuls: ~3x faster, well inside training noise
    if world <= 1:
        return Distributed(0, 1, base)
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if base.type == "cuda":
        torch.cuda.set_device(local)
        base = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if base.type == "cuda" else "gloo")
    return Distributed(rank, world, base)


def teardown_distributed(dist_info: Distributed) -> None:
    if dist_info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up to ``lr`` then x``gamma`` at each fraction in ``milestones`` of the run."""

    lr: float = 2e-4
    warmup: int = 2000
    milestones: tuple[float, ...] = (0.6,)
    gamma: float = 0.1

    def at(self, step: int, total: int) -> float:
        warm = min(self.warmup, max(1, total // 10))
        if step < warm:
            return self.lr * (step + 1) / warm
        passed = sum(1 for m in self.milestones if step >= m * total)
        return self.lr * self.gamma ** passed


class TrainLog:
    """Timestamped lines to ``OUT/train.log`` (and stdout unless quiet); silent off rank 0."""

    def __init__(self, out: Path, quiet: bool = False, enabled: bool = True) -> None:
        self.path = out / LOG_FILE
        self.quiet = quiet
        self.enabled = enabled

    def __call__(self, text: str, echo: bool = True) -> None:
        if not self.enabled:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if echo and not self.quiet:
            tqdm.write(line)


@dataclass
class RunSpec:
    """What :func:`run` needs from a trainer.

    ``loss(model, batch) -> (loss, {name: float})``; ``sample(generator) -> batch``;
    ``validate(model) -> {name: float}`` with ``score_key`` (lower is better unless
    ``higher_is_better``); ``export(model, metrics)`` writes the deliverable weights.
    """

    name: str
    model: nn.Module
    sample: Callable[[torch.Generator], Any]
    loss: Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]
    validate: Callable[[nn.Module], dict[str, float]]
    export: Callable[[nn.Module, dict[str, Any]], None]
    score_key: str
    higher_is_better: bool = False
    schedule: Schedule = field(default_factory=Schedule)
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _agree(value: int, dist_info: Distributed) -> int:
    """Rank 0's value on every rank (so that all processes stop and schedule alike)."""
    if dist_info.world <= 1:
        return value
    t = torch.tensor([value], dtype=torch.long, device=dist_info.device)
    dist.broadcast(t, 0)
    return int(t.item())


def _resume_state(out: Path) -> dict[str, Any] | None:
    """The state to resume from, if any. An old pickled state is refused with a message rather than
    unpickled (loading a pickle can run code) or silently skipped (a fresh start would overwrite the
    exported best weights with its first, worse, validation)."""
    path, legacy = out / STATE_FILE, out / LEGACY_STATE_FILE
    if path.is_file():
        return load_state(path)
    if legacy.is_file():
        raise RuntimeError(f"{legacy} is a training state in the old pickle format, which is no longer loaded; "
                           "run without --resume to start over (the old file is then removed), with --init "
                           f"{out}/<model>.safetensors to start from the weights it exported")
    return None


def _discard_states(out: Path, log: TrainLog) -> None:
    """A fresh run drops the states of earlier runs (several ranks may race here, hence missing_ok)."""
    (out / STATE_FILE).unlink(missing_ok=True)
    legacy = out / LEGACY_STATE_FILE
    if legacy.is_file():
        legacy.unlink(missing_ok=True)
        log(f"removed {legacy} (old pickled training state)")


def run(spec: RunSpec, config: TrainConfig, dist_info: Distributed = Distributed(), *,
        calibrate: int = 100, log_every: int = 50) -> dict[str, Any]:
    """Train ``spec.model`` for ``config.steps`` (or as many as ``config.max_minutes`` allows) in
    ``config.folder``; returns a summary."""
    out, steps, max_minutes, val_every = config.folder, config.steps, config.max_minutes, config.val_every
    if steps is None and max_minutes is None:
        raise ValueError("give the number of steps, a time budget (max_minutes), or both")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out.mkdir(parents=True, exist_ok=True)
    log = TrainLog(out, config.quiet, dist_info.main)
    device = dist_info.device
    model = spec.model.to(device)
    trained: nn.Module = model
    if dist_info.world > 1:
        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec.schedule.lr,
                            betas=spec.betas, weight_decay=spec.weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(config.seed * 1000 + dist_info.rank)
    step, best, total, seconds_before = 0, None, steps, 0.0
    state_path = out / STATE_FILE
    state = _resume_state(out) if config.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        generator.set_state(state["rng"][dist_info.rank % len(state["rng"])])
        step, best, total = int(state["step"]), state["best"], state["total"]
        seconds_before = float(state.get("seconds", 0.0))
        if steps is not None and total is not None and steps != total:
            total = steps  # an explicit --steps on resume extends or shortens the run
        log(f"{spec.name}: resumed at step {step} (best {spec.score_key} {best})")
    elif not config.resume:
        _discard_states(out, log)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{spec.name}: {n_params:,} parameters on {device} x{dist_info.world}, "
        f"{'auto' if total is None else total} steps, {spec.info}")

    def save_progress() -> None:
        if dist_info.main:
            save_state({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "best": best, "total": total, "rng": [generator.get_state()],
                        "seconds": seconds_before + time.perf_counter() - t0}, state_path)

    def validate_and_keep() -> dict[str, float]:
        nonlocal best
        model.eval()
        with torch.no_grad():
            metrics = spec.validate(model)
        model.train()
        score = metrics[spec.score_key]
        better = best is None or (score > best if spec.higher_is_better else score < best)
        if better:
            best = float(score)
            spec.export(model, {**metrics, "step": step})
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        log(f"{spec.name}: step {step} val {shown}{' (best, exported)' if better else ''}")
        return metrics

    t0 = last_save = time.perf_counter()
    bar = tqdm(total=total, initial=step, desc=spec.name, unit="step", disable=config.quiet or not dist_info.main,
               dynamic_ncols=True)
    model.train()
    running: dict[str, float] = {}
    last_metrics: dict[str, float] = {}
    stopped_for_time = False
    while total is None or step < total:
        if total is None and step >= calibrate:
            rate = step / max(time.perf_counter() - t0, 1e-6)
            left = max_minutes * 60 - seconds_before - (time.perf_counter() - t0)
            total = _agree(max(step + 1, step + int(rate * left * 0.97)), dist_info)
            bar.total = total
            log(f"{spec.name}: {rate:.1f} steps/s, budget of {max_minutes} min fits {total} steps")
        lr = spec.schedule.at(step, total if total is not None else 10 ** 9)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = spec.sample(generator)
        loss, metrics = spec.loss(trained, batch)
        if not torch.isfinite(loss):
            save_progress()
            raise FloatingPointError(f"{spec.name}: loss is {float(loss)} at step {step}; state saved in {out}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        step += 1
        metrics = {"loss": float(loss.detach()), **metrics}
        for k, v in metrics.items():
            running[k] = running.get(k, v) * 0.98 + v * 0.02
        bar.update(1)
        if step % log_every == 0:
            bar.set_postfix({k: f"{v:.4f}" for k, v in running.items()} | {"lr": f"{lr:.2e}"})
        if step % (log_every * 10) == 0:
            log(f"{spec.name}: step {step} " + " ".join(f"{k} {v:.4f}" for k, v in running.items())
                + f" lr {lr:.2e}", echo=False)
        at_end = total is not None and step >= total
        if dist_info.main and (step % val_every == 0 or at_end):
            last_metrics = validate_and_keep()
            save_progress()
            last_save = time.perf_counter()
        elif dist_info.main and time.perf_counter() - last_save > SAVE_SECONDS:
            save_progress()
            last_save = time.perf_counter()
        over = max_minutes is not None and seconds_before + time.perf_counter() - t0 > max_minutes * 60
        if max_minutes is not None and dist_info.world > 1:
            over = bool(_agree(int(over), dist_info))
        if over and not at_end:
            stopped_for_time = True
            if dist_info.main:
                last_metrics = validate_and_keep()
                save_progress()
            log(f"{spec.name}: stopped at step {step}: time budget of {max_minutes} min spent "
                "(run again with --resume to continue)")
            break
        if dist_info.world > 1 and step % val_every == 0:
            dist.barrier()
    bar.close()
    seconds = seconds_before + time.perf_counter() - t0
    done = not stopped_for_time
    if done:
        log(f"{spec.name}: finished {step} steps in {seconds:.0f}s, best {spec.score_key} {best}")
    return {"steps": step, "total": total, "seconds": round(seconds, 1), "best": best, "finished": done,
            "last": last_metrics, "parameters": n_params, "main": dist_info.main}


def run_distributed(spec: RunSpec, config: TrainConfig, dist_info: Distributed) -> dict[str, Any]:
    """:func:`run`, then leave the process group (whatever happened) so torchrun's processes exit cleanly."""
    try:
        return run(spec, config, dist_info)
    finally:
        teardown_distributed(dist_info)


def export_weights(out: Path, name: str, module: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``OUT/name.safetensors`` + ``OUT/name.json``, each atomically (a stage's deliverable)."""
    weights = out / f"{name}.safetensors"
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}, str(tmp))
    write_text(out / f"{name}.json", json.dumps(meta, indent=1, default=float) + "\n")
    return weights


def initialise_from(module: nn.Module, path: Path | None) -> nn.Module:
    """Start from existing weights (a stage's or a bundle's safetensors file): fine-tuning, or going on
    with a fresh optimiser when no resumable state is left. Keys and shapes must match exactly."""
    if path is None:
        return module
    if not Path(path).is_file():
        raise FileNotFoundError(f"--init {path} does not exist")
    return load_state_dict_checked(module, load_file(str(path)), path)


def read_stage(out: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights and metadata written by :func:`export_weights` (errors name the missing file)."""
    weights, info = out / f"{name}.safetensors", out / f"{name}.json"
    for path in (weights, info):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: train the {name} stage first")
    return load_file(str(weights)), json.loads(info.read_text())
