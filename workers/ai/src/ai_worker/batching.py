"""Dynamic batching: the pool children's images go through one forward pass together.

Each pool child still takes one message at a time and acknowledges it late, after its own
result is written (the journal's guarantees are per message, unchanged). What the children
share is the model: an inference process, forked from the worker's parent after the model is
loaded (so it shares the weights too), gathers the images the children send it, up to
`ai_batch_max_size` of them or for at most `ai_batch_max_wait_ms` after the first, and answers
each child with its own scores. The children decode and normalise their image themselves, side
by side; the inference process only runs the model, with all the node's cores.

Failure is contained the way a crash of a pool child is:
- the inference process dies (a native crash on a hostile image, an OOM kill): every child
  waiting on it classifies its own image locally instead (the weights are shared with it too),
  so only the child holding the culprit crashes and the journal counts that crash against that
  task alone; the parent starts a new inference process;
- a task the journal suspects (it was in the model when a process died) never joins a batch:
  it runs alone in its child, so a poison image cannot take its neighbours down twice.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection, Listener
from multiprocessing.process import BaseProcess

import numpy as np
from PIL import Image

from ai_worker.classifier.base import BatchableClassifier, Classifier, Pixels, Scores
from ai_worker.classifier.measured import observe_inference
from bunri.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_size: int
    max_wait_seconds: float


@dataclass(frozen=True, slots=True)
class Address:
    """Where the inference process listens: a Linux abstract socket (no file to clean up after
    a crash), and the key a child proves itself with before anything it sends is unpickled."""

    name: str
    key: bytes

    @classmethod
    def unique(cls) -> Address:
        return cls(
            f"\0bunri-inference-{os.getpid()}-{secrets.token_hex(4)}", secrets.token_bytes(32)
        )


class InferenceFailed(Exception):
    """The model raised on a batch (not a crash: the inference process lives on)."""


class InferenceUnavailable(Exception):
    """No inference process answered: classify locally."""


@dataclass(slots=True)
class _Request:
    connection: Connection
    pixels: Pixels


class InferenceServer:
    """The loop of the inference process: gather, run, answer."""

    def __init__(self, model: BatchableClassifier, address: Address, limits: BatchLimits) -> None:
        self._model = model
        self._address = address
        self._limits = limits
        self._pending: queue.Queue[_Request] = queue.Queue()

    def serve_forever(self, parent_pid: int) -> None:
        listener = Listener(self._address.name, family="AF_UNIX", authkey=self._address.key)
        for target, args in ((self._accept, (listener,)), (self._die_with, (parent_pid,))):
            threading.Thread(target=target, args=args, daemon=True).start()
        log.info("inference process serving", pid=os.getpid(), max_batch=self._limits.max_size)
        while True:
            self._run(self._gather())

    def _accept(self, listener: Listener) -> None:
        while True:
            connection = listener.accept()
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: Connection) -> None:
        """A child's requests, one at a time, until it goes away."""
        with connection:
            while True:
                try:
                    pixels = connection.recv()
                except (EOFError, OSError):
                    return
                self._pending.put(_Request(connection, pixels))

    def _gather(self) -> list[_Request]:
        batch = [self._pending.get()]
        images = len(batch[0].pixels)
        deadline = time.monotonic() + self._limits.max_wait_seconds
        while images < self._limits.max_size:
            try:
                request = self._pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            batch.append(request)
            images += len(request.pixels)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        pixels = np.concatenate([request.pixels for request in batch])
        started = time.perf_counter()
        try:
            scores: list[Scores] | InferenceFailed = self._model.infer(pixels)
        except Exception as exc:  # the model's own error: every child in the batch hears it
            log.exception("inference failed", images=len(pixels))
            scores = InferenceFailed(f"{type(exc).__name__}: {exc}")
        else:
            observe_inference(self._model.backend, started, len(pixels))
        start = 0
        for request in batch:
            count = len(request.pixels)
            answer = (
                scores if isinstance(scores, InferenceFailed) else scores[start : start + count]
            )
            start += count
            with contextlib.suppress(OSError):  # that child is gone; its message comes back
                request.connection.send(answer)

    @staticmethod
    def _die_with(parent_pid: int) -> None:
        """Exit when the worker's parent has gone (it would otherwise outlive a SIGKILL)."""
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(0)


class BatchedClassifier:
    """A pool child's classifier: its images go to the inference process, or are classified
    here when there is none (or the task is suspect)."""

    def __init__(
        self, local: BatchableClassifier, address: Address, *, timeout_seconds: float
    ) -> None:
        self._local = local
        self.backend = local.backend
        self.model_name = local.model_name
        self.unsure_below = local.unsure_below
        self._address = address
        self._timeout = timeout_seconds
        self._connection: Connection | None = None

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        pixels = self.prepare(images)
        try:
            return self._batched(pixels)
        except InferenceUnavailable as exc:
            log.warning("inference process unavailable; classifying here", reason=str(exc))
            return self.classify_alone(pixels)

    def prepare(self, images: Sequence[Image.Image]) -> Pixels:
        return self._local.prepare(images)

    def classify_alone(self, pixels: Pixels) -> list[Scores]:
        started = time.perf_counter()
        scores = self._local.infer(pixels)
        observe_inference(self.backend, started, len(pixels))
        return scores

    def _batched(self, pixels: Pixels) -> list[Scores]:
        try:
            connection = self._connect()
            connection.send(pixels)
            if not connection.poll(self._timeout):
                raise InferenceUnavailable(f"no answer within {self._timeout:g} s")
            answer: list[Scores] | InferenceFailed = connection.recv()
        except (OSError, EOFError, InferenceUnavailable) as exc:
            self._disconnect()
            raise InferenceUnavailable(str(exc) or type(exc).__name__) from exc
        if isinstance(answer, InferenceFailed):
            raise answer
        return answer

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = Client(
                self._address.name, family="AF_UNIX", authkey=self._address.key
            )
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None


def unbatched(classifier: Classifier) -> Classifier:
    """The classifier for a task that must run alone (the journal suspects it): never in a
    batch with others."""
    if isinstance(classifier, BatchedClassifier):
        return _Alone(classifier)
    return classifier


class _Alone:
    def __init__(self, batched: BatchedClassifier) -> None:
        self._batched = batched
        self.backend = batched.backend
        self.model_name = batched.model_name
        self.unsure_below = batched.unsure_below

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return self._batched.classify_alone(self._batched.prepare(images))


class InferenceProcess:
    """The parent's handle: starts the inference process and starts it again if it dies."""

    def __init__(
        self, model: BatchableClassifier, address: Address, limits: BatchLimits, torch_threads: int
    ) -> None:
        self._server = InferenceServer(model, address, limits)
        self._torch_threads = torch_threads
        self._process: BaseProcess | None = None
        self._stopped = threading.Event()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._watch, name="inference-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(5)

    def _spawn(self) -> None:
        # fork: the child shares the loaded weights instead of loading its own copy.
        context = multiprocessing.get_context("fork")
        self._process = context.Process(
            target=self._main, args=(os.getpid(),), name="inference", daemon=True
        )
        self._process.start()

    def _main(self, parent_pid: int) -> None:
        import torch

        torch.set_num_threads(self._torch_threads)
        self._server.serve_forever(parent_pid)

    def _watch(self) -> None:
        while not self._stopped.wait(1.0):
            process = self._process
            if process is not None and not process.is_alive():
                log.error("inference process died; starting another", exitcode=process.exitcode)
                process.join()
                self._spawn()
