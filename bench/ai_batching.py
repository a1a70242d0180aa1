"""The AI worker's model: dynamic batching vs one image at a time on the same cores, and the
prefork pool's memory.

Two models: `local`, the default, the EfficientNet-Lite0 the AI worker ships (fine-tuned by
`bunri train`, run in ONNX Runtime on a CPU); `clip`,
a model with the image tower of ViT-B/32 (the CLIP backend's usual checkpoint) with random
weights: inference costs what the real model's does, which is what batching is about (no
weights can be downloaded here, and accuracy is not measured).

Throughput and latency: client processes forked from a parent that holds the model, as the
prefork pool's children are, each classify 384-px analysis images (what the storage worker hands
over) in a closed loop for a fixed time. "one at a time": one child per core, each running the
model itself with one torch thread (BUNRI_AI_BATCH_MAX_SIZE=1, BUNRI_TORCH_THREADS=1, concurrency
= cores). "batched B": B children sending their images to the inference process
(`ai_worker.batching`), which runs batches of up to B with every core. Latency is each image's,
as its task sees it (preparation, waiting for its batch, the forward pass).

Memory: the real AI worker (`bunri-ai-worker`, prefork, batching on) with the same model loaded,
the PSS of the parent and its pool children added up (shared pages counted once), against the
RSS of one pool child (what one process holding the model costs); and beside them the inference
process's PSS, which batching adds.

    .venv/bin/python -m bench.ai_batching [--model local|clip] [--seconds 15] [--batches 4 8 16]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import torch
from PIL import Image

from ai_worker.batching import Address, BatchedClassifier, BatchLimits, InferenceProcess
from ai_worker.classifier.base import BatchableClassifier, Classifier, Pixels
from ai_worker.classifier.clip import ClipClassifier
from ai_worker.classifier.local import LocalClassifier
from ai_worker.models import BUNDLED_MODEL
from ai_worker.settings import Precision
from bench.stack import BIN, base_env, bench_vhost, migrate, process, quiet_collector
from tests.support.models import build_tiny_clip
from tests.support.pictures import photo

ANALYSIS_PX = 384
WARM_UP_SECONDS = 3.0


@dataclass(frozen=True)
class ThroughputResult:
    mode: str
    clients: int
    images: int
    seconds: float
    latencies_ms: list[float]

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.mode:<16} clients={self.clients:>2}  {self.images_per_second:6.1f} images/s  "
            f"latency p50 {statistics.median(self.latencies_ms):7.1f} ms  "
            f"p99 {self.percentile(0.99):7.1f} ms"
        )


@dataclass(frozen=True)
class MemoryResult:
    pool_processes: int  # the parent and its pool children
    pool_pss_mib: float
    inference_pss_mib: float  # the inference process (batching on), beside the pool
    one_child_rss_mib: float

    @property
    def ratio(self) -> float:
        return self.pool_pss_mib / self.one_child_rss_mib

    def line(self) -> str:
        return (
            f"prefork pool (parent + {self.pool_processes - 1} children) PSS "
            f"{self.pool_pss_mib:.0f} MiB; one child RSS {self.one_child_rss_mib:.0f} MiB; "
            f"ratio {self.ratio:.2f}; the inference process beside them PSS "
            f"{self.inference_pss_mib:.0f} MiB"
        )


def analysis_images(count: int = 8) -> list[Image.Image]:
    images = []
    for seed in range(count):
        with Image.open(io.BytesIO(photo(seed=seed))) as opened:
            picture = opened.convert("RGB")
        picture.thumbnail((ANALYSIS_PX, ANALYSIS_PX))
        images.append(picture)
    return images


def _client(
    classifier: Classifier, threads: int, seconds: float, out: Any, start_at: float
) -> None:
    torch.set_num_threads(threads)
    quiet_collector()
    images = analysis_images()
    warm_until = start_at + WARM_UP_SECONDS
    while time.monotonic() < warm_until:
        classifier.classify(images[:1])
    latencies, index = [], 0
    deadline = warm_until + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        classifier.classify([images[index % len(images)]])
        latencies.append((time.perf_counter() - began) * 1000)
        index += 1
    out.put(latencies)


def closed_loop(
    mode: str, classifier: Classifier, clients: int, threads: int, seconds: float
) -> ThroughputResult:
    context = multiprocessing.get_context("fork")  # the children share the model, as a pool's
    out = context.Queue()
    start_at = time.monotonic() + 1.0
    children = [
        context.Process(target=_client, args=(classifier, threads, seconds, out, start_at))
        for _ in range(clients)
    ]
    for child in children:
        child.start()
    latencies: list[float] = []
    for _ in children:
        latencies.extend(out.get(timeout=seconds + 600))
    for child in children:
        child.join()
    return ThroughputResult(mode, clients, len(latencies), seconds, latencies)


def measure_throughput(
    model: BatchableClassifier, batches: list[int], seconds: float, on_line: Callable[[str], None]
) -> list[ThroughputResult]:
    cores = os.cpu_count() or 1
    results = [closed_loop("one at a time", model, cores, 1, seconds)]
    on_line(results[-1].line())
    for size in batches:
        address = Address.unique()
        server = InferenceProcess(model, address, BatchLimits(size, 0.005), torch_threads=cores)
        server.start()
        try:
            batched = BatchedClassifier(model, address, timeout_seconds=120)
            results.append(closed_loop(f"batched B={size}", batched, size, 1, seconds))
        finally:
            server.stop()
        on_line(results[-1].line())
    return results


def forward_pass_rates(
    model: BatchableClassifier, sizes: list[int], seconds: float
) -> dict[int, float]:
    """Images/s of the forward pass alone (`infer` on prepared pixels) at each batch size, every
    core given to torch, as the inference process runs it: what batching buys the model itself,
    before any image preparation or hand-over between processes. The best of 5 trials, as
    `timeit` takes the best: the machine's other work only ever slows a trial down, and would
    otherwise move the ratio between batch sizes by +-30% from run to run."""
    cores = os.cpu_count() or 1
    previous = torch.get_num_threads()
    # The local model's ONNX Runtime session takes its threads when it opens: reopen it.
    use_threads = getattr(model, "use_threads", torch.set_num_threads)
    use_threads(cores)
    try:
        images = analysis_images()
        rates = {}
        for size in sizes:
            pixels = model.prepare([images[i % len(images)] for i in range(size)])
            model.infer(pixels)  # warm-up: the first pass allocates
            best = max(_passes_per_second(model, pixels, seconds / 5) for _ in range(5))
            rates[size] = best * size
    finally:
        use_threads(previous)
    return rates


def _passes_per_second(model: BatchableClassifier, pixels: Pixels, seconds: float) -> float:
    passes, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        model.infer(pixels)
        passes += 1
    return passes / (time.perf_counter() - began)


def measure_pool_memory(model_env: dict[str, str], concurrency: int) -> MemoryResult:
    with tempfile.TemporaryDirectory() as scratch, bench_vhost("bunri_bench_ai") as broker:
        logs = Path(scratch)
        env = (
            base_env(broker, logs)
            | model_env
            | {
                "BUNRI_AI_WORKER_CONCURRENCY": str(concurrency),
                "BUNRI_AI_BATCH_MAX_SIZE": "16",  # off by default on CPU: its cost shows too
                "BUNRI_LOG_LEVEL": "INFO",
                "BUNRI_LOG_JSON": "true",
            }
        )
        migrate(env)
        log = logs / "ai.log"
        with process([str(BIN / "bunri-ai-worker")], env, log) as worker:
            deadline = time.monotonic() + 120
            while (inference := _inference_pid(log)) is None:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError(f"the AI worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            time.sleep(3)  # the pool children are up
            pool = [worker.pid, *(pid for pid in _descendants(worker.pid) if pid != inference)]
            pss = sum(_smaps_rollup(pid)["Pss"] for pid in pool)
            children = [pid for pid in _children(worker.pid) if pid != inference]
            one_child = _smaps_rollup(children[0])["Rss"]
            inference_pss = _smaps_rollup(inference)["Pss"]
    return MemoryResult(len(pool), pss / 1024, inference_pss / 1024, one_child / 1024)


def _inference_pid(log: Path) -> int | None:
    for line in log.read_text(errors="replace").splitlines():
        if "inference process serving" in line:
            return int(json.loads(line)["pid"])
    return None


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _smaps_rollup(pid: int) -> dict[str, int]:
    """The kB figures of /proc/PID/smaps_rollup."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        figures[name.rstrip(":")] = int(value)
    return figures


MODELS = {
    "local": "the shipped EfficientNet-Lite (ai_worker/models/waste.safetensors)",
    "clip": "CLIP with ViT-B/32's image tower",
}


FORWARD_BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64]


@dataclass(frozen=True)
class AiFigures:
    number_format: str  # what the model computes in
    throughput: list[ThroughputResult]  # "one at a time" first
    forward_pass: dict[int, float]  # images/s by batch size
    memory: MemoryResult

    def lines(self) -> list[str]:
        alone = self.throughput[0].images_per_second
        lines = [result.line() for result in self.throughput]
        lines += [
            f"{result.mode}: {result.images_per_second / alone:.2f}x one at a time"
            for result in self.throughput[1:]
        ]
        single = self.forward_pass[min(self.forward_pass)]
        lines += [
            f"forward pass alone, batch {size:>2}: {rate:6.1f} images/s ({rate / single:.2f}x)"
            for size, rate in self.forward_pass.items()
        ]
        return [*lines, self.memory.line()]


def run(
    model_kind: str,
    seconds: float,
    batches: list[int],
    pool: int,
    forward_sizes: list[int] = FORWARD_BATCH_SIZES,
    on_line: Callable[[str], None] = print,
    precision: Precision = "auto",
) -> AiFigures:
    torch.set_num_threads(1)  # the parent forks; its children set their own
    with tempfile.TemporaryDirectory() as scratch:
        model: BatchableClassifier
        if model_kind == "local":
            model = LocalClassifier(BUNDLED_MODEL, precision=precision)
            number_format = model.number_format
            model_env = {
                "BUNRI_CLASSIFIER_BACKEND": "local",
                "BUNRI_LOCAL_MODEL_PRECISION": number_format,
            }
        else:
            folder = build_tiny_clip(Path(scratch), full_size_vision=True)
            model = ClipClassifier(str(folder), offline=True)
            number_format = "float32"
            model_env = {
                "BUNRI_CLASSIFIER_BACKEND": "clip",
                "BUNRI_CLIP_MODEL": str(folder),
                "BUNRI_MODEL_OFFLINE": "true",
            }
        throughput = measure_throughput(model, batches, seconds, on_line)
        # After the forks: the parent's torch threads are left as the children found them.
        forward = forward_pass_rates(model, forward_sizes, min(seconds, 3.0))
        memory = measure_pool_memory(model_env, pool)
    figures = AiFigures(number_format, throughput, forward, memory)
    for line in figures.lines()[len(throughput) :]:
        on_line(line)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batches", type=int, nargs="*", default=[4, 8, 16])
    parser.add_argument("--pool", type=int, default=4, help="pool children for the memory run")
    parser.add_argument("--model", choices=sorted(MODELS), default="local")
    parser.add_argument(
        "--precision",
        choices=get_args(Precision),
        default="auto",
        help="the local model's number format, as BUNRI_LOCAL_MODEL_PRECISION",
    )
    args = parser.parse_args()
    print(f"AI worker model: {MODELS[args.model]}, {os.cpu_count()} cores", flush=True)
    figures = run(
        args.model,
        args.seconds,
        args.batches,
        args.pool,
        on_line=lambda line: print(line, flush=True),
        precision=args.precision,
    )
    print(f"number format: {figures.number_format}")


if __name__ == "__main__":
    main()
