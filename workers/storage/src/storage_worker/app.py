"""The storage worker's Celery app. Start it with `bunri-storage-worker` (the eventlet pool must
be chosen on the command line, so that patching happens before anything is imported)."""

from __future__ import annotations

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


upkeep = Upkeep(journal, writes, settings)


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    prepare_worker(app, settings, journal)


upkeep.run_with_the_worker()
