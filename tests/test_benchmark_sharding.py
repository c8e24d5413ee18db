"""The benchmark shared by two processes under torchrun (gloo, CPU) gives exactly one process's numbers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hmu_demo.eval.sharding import Shard
from test_benchmark import bundle_folder, corpus, evaluator_folder  # noqa: F401  (module fixtures, shared)

REPO = Path(__file__).resolve().parents[1]
#: what may differ between two runs of the same benchmark: when and how fast it ran, and how many processes
TIMING_KEYS = ("command", "commit", "date", "seconds", "generation_seconds", "generation", "world_size",
               "units_per_rank")


def test_shards_cover_every_unit_once() -> None:
    units = list(range(23))
    parts = [Shard(rank, 3).mine(units) for rank in range(3)]
    assert sorted(i for part in parts for i, _ in part) == units
    assert [len(p) for p in parts] == [8, 8, 7]
    assert Shard().mine(units) == list(enumerate(units)) and Shard().gather("x") == ["x"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_index_text_cache(bundle: Path) -> None:
    """The code index's caption-embedding cache, written before either run: a run that computes it
    edits with float32 embeddings and one that reads it with the cache's float16 ones, so both runs
    must find it in the same state (the same holds for any two runs of the benchmark)."""
    from hmu_demo.models.bundle import ModelBundle
    from hmu_demo.unlearning.flagging import load_index
    from hmu_demo.unlearning.index_text import index_motion_text

    index_motion_text(load_index(bundle / "code_index.json.gz"), ModelBundle.load(bundle).make_text_encoder("cpu"))


def _comparable(path: Path) -> dict:
    result = json.loads(path.read_text())
    for key in TIMING_KEYS:
        result.pop(key)
    for info in result["contenders"].values():
        info.pop("seconds", None)                                   # how long the edit took to apply
    return result


@pytest.mark.slow
def test_two_ranks_give_the_numbers_of_one_process(corpus: Path, bundle_folder: Path,  # noqa: F811
                                                   evaluator_folder: Path, tmp_path: Path) -> None:  # noqa: F811
    args = ["-m", "hmu_demo.eval.benchmark", "--data", str(corpus), "--split", "train", "--bundle",
            str(bundle_folder), "--evaluator-path", str(evaluator_folder), "--backbones", "momask,bamm",
            "--methods", "original,uce,lcr-gated", "--repeats", "2", "--samples", "40", "--mm-texts", "2",
            "--resamples", "200", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    _write_index_text_cache(bundle_folder)
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    port = _free_port()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                          "127.0.0.1", "--master_port", str(port), *args, "--out", str(tmp_path / "two")],
                         cwd=REPO, env={**env, "MASTER_PORT": str(port)}, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("# Unlearning benchmark") == 1                 # rank 0 alone reports
    sharded = json.loads((tmp_path / "two" / "benchmark.json").read_text())
    single = json.loads((tmp_path / "one" / "benchmark.json").read_text())
    assert sharded["world_size"] == 2 and single["world_size"] == 1
    # both ranks generated, and their units add up to the single process's
    assert len(sharded["units_per_rank"]) == 2 and min(sharded["units_per_rank"]) > 0
    assert sum(sharded["units_per_rank"]) == sum(single["units_per_rank"])
    assert sharded["generation"]["bamm"]["clips"] == single["generation"]["bamm"]["clips"] > 0
    a, b = _comparable(tmp_path / "one" / "benchmark.json"), _comparable(tmp_path / "two" / "benchmark.json")
    assert "multimodality" in a["values"]["momask"]["uce"]["retain"]
    assert a.keys() == b.keys()
    for key in a:
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True), key
