"""The storage worker's Celery app. Start it with `bunri-storage-worker` (the eventlet pool must
be chosen on the command line, so that patching happens before anything is imported)."""

from __future__ import annotations

import redis
from celery.signals import worker_init

from bunri.once import once
from bunri.storage import ObjectStore, create_object_store
from bunri.worker.celery import create_celery_app, open_journal, prepare_worker
from bunri.worker.durable import DurableScanWrites
from bunri.worker.journaled import JournaledRunner
from bunri.worker.ledger import ScanLedger, create_ledger
from bunri.worker.upkeep import Upkeep
from storage_worker.settings import StorageWorkerSettings

settings = StorageWorkerSettings()
app = create_celery_app("storage_worker", settings, include=["storage_worker.tasks"])
journal = open_journal(settings)
runner = JournaledRunner(app, journal)


@once
def ledger() -> ScanLedger:
    return create_ledger(settings, pool_size=min(settings.storage_worker_concurrency, 20))


@once
def writes() -> DurableScanWrites:
    return DurableScanWrites(ledger(), journal)


@once
def object_store() -> ObjectStore:
    return create_object_store(settings)


@once
def redis_client() -> redis.Redis:
    return _bounded_redis(settings.redis_url)


@once
def cache_redis_client() -> redis.Redis:
    """The caches' Redis (`cache_redis_url`), where my-api reads profiles."""
    if settings.cache_redis_url is None:
        return redis_client()
    return _bounded_redis(settings.cache_redis_url)


def _bounded_redis(url: str) -> redis.Redis:
    # Bounded like every call a worker makes: a Redis that stops answering must not hang a task.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


upkeep = Upkeep(journal, writes, settings)


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    prepare_worker(app, settings, journal)


upkeep.run_with_the_worker()
