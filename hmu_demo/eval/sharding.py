"""Running the benchmark as several processes under ``torchrun``: which work is whose, and the gather.

    torchrun --nproc_per_node 2 -m hmu_demo.eval.benchmark ...      # (or python -m torch.distributed.run)

Every process builds the same list of work units for a replication (:mod:`hmu_demo.eval.scoring`)
and does the units ``rank, rank + world, ...``; rank 0 gathers the per-caption results
(evaluator embeddings, judge verdicts: small Python objects) and alone computes the metrics and
writes the report. A unit is computed the same way whoever does it (its own batch, per-prompt
seeds), so the numbers are identical to one process at the same threads per process and device.

Under torchrun each process takes GPU ``LOCAL_RANK`` and the group uses NCCL; on CPU, gloo. A
plain run (no ``WORLD_SIZE`` above 1 in the environment) is a one-process shard that gathers
nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["Shard", "join", "leave"]

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """This process's place in the run; ``world == 1`` is the plain single-process run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def root(self) -> bool:
        return self.rank == 0

    def mine(self, units: list[T]) -> list[tuple[int, T]]:
        """(index, unit) of the units this process does: every ``world``-th from its rank."""
        return [(i, u) for i, u in enumerate(units) if i % self.world == self.rank]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every process's ``obj``, in rank order, on rank 0 (None on the others)."""
        if self.world == 1:
            return [obj]
        out: list[Any] | None = [None] * self.world if self.root else None
        dist.gather_object(obj, out, dst=0)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def join(device: torch.device) -> Shard:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else a single shard.
    ``device`` is the resolved ``--device``; CUDA becomes this process's GPU ``LOCAL_RANK``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard(0, 1, device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Shard(rank, world, device)


def leave(shard: Shard) -> None:
    """Leave the process group (after a last barrier, so no process exits while another still sends)."""
    if shard.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
