"""The storage worker's Celery app. Start it with `bunri-storage-worker` (the eventlet pool must
be chosen on the command line, so that patching happens before anything is imported)."""

from __future__ import annotations

from functools import cache

import redis
from celery.signals import worker_init, worker_ready, worker_shutdown

from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.storage import ObjectStore, create_object_store
from bunri.worker.celery import create_celery_app, open_journal, prepare_worker
from bunri.worker.durable import DurableScanWrites
from bunri.worker.journaled import JournaledRunner
from bunri.worker.scans import ScanLedger
from bunri.worker.upkeep import Upkeep
from storage_worker.settings import StorageWorkerSettings

settings = StorageWorkerSettings()
app = create_celery_app(
    "storage_worker",
    settings,
    include=["storage_worker.tasks"],
    # A task running when the broker connection drops finishes its work; its redelivery finds
    # it still running here (or done) and is acknowledged without a second run.
    worker_cancel_long_running_tasks_on_connection_loss=False,
)
journal = open_journal(settings)
runner = JournaledRunner(app, journal)


@cache
def ledger() -> ScanLedger:
    engine = create_sync_engine(settings, pool_size=min(settings.storage_worker_concurrency, 20))
    return ScanLedger(create_sync_sessionmaker(engine), redis.Redis.from_url(settings.redis_url))


@cache
def writes() -> DurableScanWrites:
    return DurableScanWrites(ledger(), journal)


@cache
def object_store() -> ObjectStore:
    return create_object_store(settings)


upkeep = Upkeep(journal, writes, settings)


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    prepare_worker(app, settings, journal)


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    upkeep.start()


@worker_shutdown.connect
def _on_worker_shutdown(**_: object) -> None:
    upkeep.stop()
