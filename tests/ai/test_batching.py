"""Dynamic batching in the AI worker: the pool children's images share forward passes in the
inference process, and its death costs no answer (ai_worker.batching)."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from PIL import Image

from ai_worker.batching import Address, BatchedClassifier, BatchLimits, InferenceProcess
from ai_worker.classifier.base import BatchableClassifier, Pixels, Scores
from ai_worker.classifier.clip import ClipClassifier
from ai_worker.settings import CUDA_BATCH_MAX_SIZE, AiWorkerSettings
from tests.support.models import build_tiny_clip
from tests.support.pictures import photo


class Recorded:
    """The model, telling the test (across the fork) how many images each forward pass got in
    an inference process (not in the client); it raises on the passes numbered in `failing`."""

    def __init__(self, model: BatchableClassifier, failing: Sequence[int] = ()) -> None:
        self._model = model
        self.backend = model.backend
        self.model_name = model.model_name
        self.unsure_below = model.unsure_below
        self.sizes: Any = multiprocessing.get_context("fork").Queue()
        self._failing = set(failing)
        self._passes = 0
        self._client_pid = os.getpid()

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return self.infer(self.prepare(images))

    def prepare(self, images: Sequence[Image.Image]) -> Pixels:
        return self._model.prepare(images)

    def infer(self, pixels: Pixels) -> list[Scores]:
        self._passes += 1
        if self._passes in self._failing:
            raise ValueError("a model error")
        if os.getpid() != self._client_pid:
            self.sizes.put(len(pixels))
        return self._model.infer(pixels)

    def batch_sizes(self) -> list[int]:
        sizes = []
        while not self.sizes.empty():
            sizes.append(self.sizes.get(timeout=1))
        return sizes


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> ClipClassifier:
    folder = build_tiny_clip(tmp_path_factory.mktemp("clip"))
    return ClipClassifier(str(folder), offline=True)


@pytest.fixture
def pictures() -> list[Image.Image]:
    return [Image.open(io.BytesIO(photo(seed=seed))).convert("RGB") for seed in range(6)]


@contextmanager
def serving(model: Recorded, limits: BatchLimits) -> Iterator[tuple[InferenceProcess, Address]]:
    address = Address.unique()
    process = InferenceProcess(model, address, limits, torch_threads=1)
    process.start()
    try:
        yield process, address
    finally:
        process.stop()


def classify_at_once(
    address: Address, model: Recorded, pictures: list[Image.Image]
) -> list[Scores]:
    """Each picture from its own client (as from a pool child of its own), all at once."""
    clients = [BatchedClassifier(model, address, timeout_seconds=30) for _ in pictures]
    results: list[Scores | None] = [None] * len(pictures)
    together = threading.Barrier(len(pictures))

    def one(index: int) -> None:
        together.wait()
        (results[index],) = clients[index].classify([pictures[index]])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(pictures))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def assert_same_scores(batched: Scores, alone: Scores) -> None:
    assert batched.keys() == alone.keys()
    assert all(abs(batched[key] - alone[key]) < 1e-4 for key in alone)


def test_concurrent_images_share_forward_passes_and_get_their_own_scores(
    clip: ClipClassifier, pictures: list[Image.Image]
) -> None:
    model = Recorded(clip)
    with serving(model, BatchLimits(max_size=8, max_wait_seconds=0.5)) as (_, address):
        results = classify_at_once(address, model, pictures)
    for picture, result in zip(pictures, results, strict=True):
        assert_same_scores(result, clip.classify([picture])[0])
    sizes = model.batch_sizes()
    assert sum(sizes) == len(pictures)
    assert max(sizes) > 1, sizes


def test_a_batch_never_holds_more_than_its_limit(
    clip: ClipClassifier, pictures: list[Image.Image]
) -> None:
    model = Recorded(clip)
    with serving(model, BatchLimits(max_size=2, max_wait_seconds=0.5)) as (_, address):
        classify_at_once(address, model, pictures)
    sizes = model.batch_sizes()
    assert sum(sizes) == len(pictures)
    assert max(sizes) <= 2


def test_a_model_error_reaches_the_child_and_the_next_batch_is_served(
    clip: ClipClassifier, pictures: list[Image.Image]
) -> None:
    from ai_worker.batching import InferenceFailed

    model = Recorded(clip, failing=[1])
    with serving(model, BatchLimits(max_size=8, max_wait_seconds=0)) as (_, address):
        client = BatchedClassifier(model, address, timeout_seconds=30)
        with pytest.raises(InferenceFailed, match="a model error"):
            client.classify(pictures[:1])
        (scores,) = client.classify(pictures[:1])
    assert_same_scores(scores, clip.classify(pictures[:1])[0])


def test_a_killed_inference_process_costs_no_answer_and_comes_back(
    clip: ClipClassifier, pictures: list[Image.Image]
) -> None:
    model = Recorded(clip)
    with serving(model, BatchLimits(max_size=8, max_wait_seconds=0)) as (process, address):
        client = BatchedClassifier(model, address, timeout_seconds=30)
        client.classify(pictures[:1])
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        # Answered here, in the client, while there is no inference process.
        (scores,) = client.classify(pictures[1:2])
        assert_same_scores(scores, clip.classify(pictures[1:2])[0])
        assert model.batch_sizes() == [1]  # the first one only
        deadline = time.monotonic() + 10
        # Until an image goes through the new inference process again.
        while not model.batch_sizes():
            assert time.monotonic() < deadline, "the inference process was not started again"
            time.sleep(0.1)
            client.classify(pictures[2:3])
        assert process.pid != first


@pytest.mark.parametrize(
    ("device", "configured", "expected"),
    [
        ("cpu", None, 1),
        ("cuda", None, CUDA_BATCH_MAX_SIZE),
        ("cuda:1", None, CUDA_BATCH_MAX_SIZE),
        ("cpu", 8, 8),
    ],
)
def test_batching_is_on_where_it_pays_unless_configured(
    device: str, configured: int | None, expected: int
) -> None:
    settings = AiWorkerSettings(device=device, ai_batch_max_size=configured)
    assert settings.batch_max_size() == expected
