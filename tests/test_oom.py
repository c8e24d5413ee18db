"""Out-of-memory fallback: halved batches, then the CPU, with a message (hmu_demo.models.oom, and the
text-to-motion pipeline that uses it).

The CPU tests run a real batched computation whose "GPU" raises a real ``torch.cuda.OutOfMemoryError``
above a batch size: that stands for the GPU's limit, the helper under test is the real one. The GPU
test fills a real GPU and checks a real pipeline falls back to the CPU.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from test_generate import PROMPTS, HashEncoder, tiny_bundle

from hmu_demo.models.oom import OomReport, cpu_copy, is_out_of_memory, run_batched
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import GenerationOutput, TextToMotionPipeline

CUDA = torch.device("cuda")  # a label here: the workload below decides what fits on it


class Workload:
    """A linear layer over one seeded random row per item; the simulated GPU fits ``limit`` items."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.layer = torch.nn.Linear(8, 4)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, chunk: list[int], device: torch.device) -> list[torch.Tensor]:
        self.calls.append((device.type, len(chunk)))
        if device.type == "cuda" and len(chunk) > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(chunk)} MiB")
        rows = torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(i)) for i in chunk])
        with torch.no_grad():
            return list(self.layer(rows))


def expected(work: Workload, items: list[int]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [work.layer(torch.randn(8, generator=torch.Generator().manual_seed(i))) for i in items]


def assert_same(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hmu_demo.models.oom" and r.levelno == logging.WARNING]


def test_halves_the_batch_and_keeps_the_order(caplog: pytest.LogCaptureFixture) -> None:
    work, items = Workload(limit=3), list(range(11))
    with caplog.at_level(logging.WARNING):
        out, report = run_batched(work, items, CUDA, batch_size=8, what="test job")
    assert_same(out, expected(work, items))
    assert work.calls[:3] == [("cuda", 8), ("cuda", 4), ("cuda", 2)]
    assert all(call == ("cuda", 2) for call in work.calls[2:-1]) and work.calls[-1] == ("cuda", 1)
    assert report == OomReport("cuda", 8, "cuda", 2, retries=2, what="test job")
    assert report.fell_back and not report.on_cpu
    assert report.message == "GPU out of memory: test job ran in batches of 2, not 8"
    lines = warnings_of(caplog)
    assert lines == ["cuda out of memory in test job (batch of 8): retrying with batches of 4",
                     "cuda out of memory in test job (batch of 4): retrying with batches of 2"]


def test_runs_on_the_cpu_when_one_item_does_not_fit(caplog: pytest.LogCaptureFixture) -> None:
    work, items = Workload(limit=0), list(range(5))
    with caplog.at_level(logging.WARNING):
        out, report = run_batched(work, items, CUDA)
    assert_same(out, expected(work, items))
    assert work.calls == [("cuda", 5), ("cuda", 2), ("cuda", 1), ("cpu", 5)]  # host memory: full batch again
    assert report.device == "cpu" and report.batch_size == 5 and report.retries == 3
    assert report.on_cpu and report.message == "GPU out of memory: job ran on the CPU (slower)"
    lines = warnings_of(caplog)
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[-1] == "cuda out of memory in job (batch of 1): running the rest on the CPU"


def test_the_next_call_tries_the_gpu_again() -> None:
    work, items = Workload(limit=0), list(range(4))
    _, first = run_batched(work, items, CUDA)
    assert first.on_cpu
    work.limit, work.calls = 4, []  # memory is free again
    out, second = run_batched(work, items, CUDA)
    assert work.calls == [("cuda", 4)]
    assert second == OomReport("cuda", 4, "cuda", 4) and not second.fell_back and second.message == ""
    assert_same(out, expected(work, items))


def test_which_errors_count_as_out_of_memory() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))  # not an error PyTorch raises for memory


def test_other_errors_propagate_untouched() -> None:
    calls = []

    def broken(chunk: list[int], device: torch.device) -> list[int]:
        calls.append(len(chunk))
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        run_batched(broken, [1, 2, 3, 4], CUDA)
    assert calls == [4]
    with pytest.raises(ValueError, match="2 results for 3 items"):
        run_batched(lambda chunk, device: chunk[:2], [1, 2, 3], CUDA)


def test_cpu_out_of_memory_with_one_item_propagates() -> None:
    work = Workload(limit=0)

    def host_limited(chunk: list[int], device: torch.device) -> list[torch.Tensor]:
        return work(chunk, CUDA if device.type == "cpu" else device)  # the CPU is the one short of memory

    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_batched(host_limited, list(range(4)), "cpu")
    assert [size for _, size in work.calls] == [4, 2, 1]


def test_no_items() -> None:
    out, report = run_batched(Workload(limit=0), [], CUDA)
    assert out == [] and not report.fell_back


def test_cpu_copy_shares_nothing() -> None:
    module = torch.nn.Linear(3, 2)
    module.register_buffer("scale", torch.ones(2))
    module.cache = {"mean": torch.zeros(2)}  # a plain attribute, as the normaliser's cache is
    copy = cpu_copy(module)
    assert copy is not module and isinstance(copy, torch.nn.Linear)
    torch.testing.assert_close(copy.weight, module.weight)
    assert copy.weight.device.type == "cpu" and copy.cache["mean"].device.type == "cpu"
    with torch.no_grad():
        copy.weight.add_(1.0)
        copy.scale.mul_(2.0)
    assert not torch.equal(copy.weight, module.weight) and torch.equal(module.scale, torch.ones(2))


# ------------------------------------------------------------------------------------- pipeline


LENGTHS = (40, 24, 60)


def run(pipeline: TextToMotionPipeline, prompts=PROMPTS, lengths=LENGTHS, **settings) -> GenerationOutput:
    return pipeline(GenerationRequest(prompts, lengths, seed=3, steps=2, **settings))


def assert_same_motions(got, want, atol: float = 0.0) -> None:
    assert [m.prompt for m in got] == [m.prompt for m in want]
    for g, w in zip(got, want):
        assert g.length_frames == w.length_frames
        np.testing.assert_array_equal(g.tokens, w.tokens)
        np.testing.assert_allclose(g.joints, w.joints, rtol=0, atol=atol)
        np.testing.assert_allclose(g.features, w.features, rtol=0, atol=atol)


@pytest.mark.parametrize("backbone", ["momask", "bamm"])
def test_generator_halves_its_batch_with_the_same_motions(monkeypatch: pytest.MonkeyPatch, backbone: str) -> None:
    """A model that runs out of memory above one prompt: same motions as one batch, and the report says so."""
    want = run(TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu"), backbone=backbone).motions
    gen = TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu")
    model = gen.bundle.masked if backbone == "momask" else gen.bundle.bamm
    real = model.generate

    def limited(cond, *args, **kwargs):
        if cond.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return real(cond, *args, **kwargs)

    monkeypatch.setattr(model, "generate", limited)
    got = run(gen, backbone=backbone)
    assert_same_motions(got.motions, want)
    assert got.fallback == OomReport("cpu", 3, "cpu", 1, retries=1, what="generation")
    assert gen._cpu is None  # already on the CPU: no copy made
    monkeypatch.setattr(model, "generate", real)
    assert run(gen, PROMPTS[:1], LENGTHS[:1], backbone=backbone).fallback is None


@contextlib.contextmanager
def full_gpu() -> Iterator[None]:
    """No new CUDA memory for this process: no growth past what it holds, and the holes filled."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(torch.cuda.memory_reserved() / total)
    ballast, size = [], 1 << 30
    try:
        while size >= 512:
            try:
                ballast.append(torch.empty(size, dtype=torch.uint8, device="cuda"))
            except torch.cuda.OutOfMemoryError:
                size //= 2
        yield
    finally:
        del ballast
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_out_of_memory_generates_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    want = run(TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu")).motions
    bundle = tiny_bundle()
    gen = TextToMotionPipeline(bundle, HashEncoder(), device="cuda")
    with caplog.at_level(logging.WARNING), full_gpu():
        out = run(gen)
    got, report = out.motions, out.fallback
    assert report is not None and report.on_cpu and report.requested_device.startswith("cuda"), report
    assert report.message == "GPU out of memory: generation ran on the CPU (slower)"
    assert any("running the rest on the CPU" in line for line in warnings_of(caplog))
    assert_same_motions(got, want, atol=1e-5)
    assert bundle.device.type == "cuda" and gen.bundle is bundle  # the caller's models stayed on the GPU
    again = run(gen)  # memory free again: back on the GPU
    assert again.fallback is None
    assert [m.length_frames for m in again.motions] == [m.length_frames for m in want]


def test_generator_falls_back_to_a_cpu_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU fallback path of a pipeline, without a GPU: the pretend accelerator is the meta device,
    on which the masked transformer always runs out of memory."""
    from hmu_demo.models.masked import MaskTransformer

    want = run(TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu")).motions
    gen = TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu")
    bundle, real = gen.bundle, MaskTransformer.generate

    def limited(self, cond, *args, **kwargs):
        if cond.device.type != "cpu":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return real(self, cond, *args, **kwargs)

    monkeypatch.setattr(MaskTransformer, "generate", limited)
    gen.device = torch.device("meta")
    got = run(gen)
    assert_same_motions(got.motions, want)
    assert got.fallback == OomReport("meta", 3, "cpu", 3, retries=2, what="generation")
    assert gen.bundle is bundle and gen._cpu is not None
    copy = gen._cpu.bundle
    assert copy is not bundle and next(copy.parameters()).data_ptr() != next(bundle.parameters()).data_ptr()
    run(gen, PROMPTS[:1], LENGTHS[:1])
    assert gen._cpu.bundle is copy  # made once
