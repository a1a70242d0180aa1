"""The AI worker's Celery app (prefork pool). The model is loaded once, in the parent, before the
pool forks: the children share its memory (copy-on-write) instead of holding a copy each."""

from __future__ import annotations

import os
from functools import cache

from celery.signals import worker_init, worker_process_init, worker_shutdown
from sqlalchemy.pool import NullPool

from ai_worker.batching import Address, BatchedClassifier, BatchLimits, InferenceProcess
from ai_worker.classifier import Classifier, ModelUnavailable, load_classifier
from ai_worker.classifier.base import BatchableClassifier
from ai_worker.classifier.measured import MeasuredClassifier
from ai_worker.settings import AiWorkerSettings
from bunri.logging import get_logger
from bunri.web.memory import settle_before_fork
from bunri.worker.celery import create_celery_app, open_journal, prepare_worker
from bunri.worker.durable import DurableScanWrites
from bunri.worker.journaled import JournaledRunner
from bunri.worker.ledger import ScanLedger, create_ledger
from bunri.worker.upkeep import Upkeep

log = get_logger(__name__)
settings = AiWorkerSettings()
app = create_celery_app(
    "ai_worker",
    settings,
    include=["ai_worker.tasks"],
    # A child that grew (a leak in a native library, say) is replaced between tasks.
    worker_max_memory_per_child=2_000_000,
)

journal = open_journal(settings)  # each pool child opens its own connection to the file
runner = JournaledRunner(app, journal)

_model: list[Classifier | ModelUnavailable] = []


def classifier() -> Classifier | ModelUnavailable:
    """The model loaded at start (or why it could not be: scans then fail saying so)."""
    if not _model:
        _model.append(_load())
    return _model[0]


def _load() -> Classifier | ModelUnavailable:
    import torch

    # Before any tensor work: a parent that never starts more than one thread forks safely.
    torch.set_num_threads(1)
    try:
        loaded = load_classifier(settings)
    except ModelUnavailable as exc:
        log.error("model unavailable; scans will fail until it is fixed", reason=str(exc))
        return exc
    log.info(
        "model loaded",
        backend=loaded.backend,
        model=loaded.model_name,
        # What BUNRI_LOCAL_MODEL_PRECISION=auto chose on this hardware (local models only).
        number_format=getattr(loaded, "number_format", None),
        pid=os.getpid(),
    )
    if settings.batch_max_size() > 1 and isinstance(loaded, BatchableClassifier):
        return _batched(loaded)
    return MeasuredClassifier(loaded)


def _batched(model: BatchableClassifier) -> BatchedClassifier:
    """The pool children's classifier, sending their images to the inference process (started
    with the worker)."""
    address = Address.unique()
    limits = BatchLimits(settings.batch_max_size(), settings.ai_batch_max_wait_ms / 1000)
    threads = settings.ai_batch_torch_threads or os.cpu_count() or 1
    _inference.append(InferenceProcess(model, address, limits, threads))
    return BatchedClassifier(
        model, address, timeout_seconds=settings.ai_batch_answer_timeout_seconds
    )


_inference: list[InferenceProcess] = []


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    prepare_worker(app, settings, journal)
    classifier()  # in the parent, before the pool forks
    settle_before_fork()
    for process in _inference:
        process.start()  # forked: it shares the weights


@worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    for process in _inference:
        process.stop()


def _parent_writes() -> DurableScanWrites:
    """For the parent's upkeep thread: connections opened and closed per round (NullPool), so
    that no pool child is ever forked holding one."""
    return DurableScanWrites(create_ledger(settings, poolclass=NullPool), journal)


upkeep = Upkeep(journal, cache(_parent_writes), settings)

upkeep.run_with_the_worker()


@worker_process_init.connect
def _on_child_start(**_: object) -> None:
    import torch

    torch.set_num_threads(settings.torch_threads)


@cache
def ledger() -> ScanLedger:
    """A pool child's own (created in the child, after the fork)."""
    return create_ledger(settings, pool_size=2)


@cache
def writes() -> DurableScanWrites:
    return DurableScanWrites(ledger(), journal)
