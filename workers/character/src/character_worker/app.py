"""The character worker's Celery app (prefork pool): domain events into points, campaigns into
awards. Each pool child opens its own database and Redis connections, after the fork."""

from __future__ import annotations

from functools import cache

import redis
from celery.signals import worker_init
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bunri.character.missions import Missions, load_missions
from bunri.character.rules import Rules, load_rules
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.worker.celery import create_celery_app, open_journal, prepare_worker
from bunri.worker.durable import DurableScanWrites
from bunri.worker.journaled import JournaledRunner
from bunri.worker.ledger import create_ledger
from bunri.worker.upkeep import Upkeep
from character_worker.settings import CharacterWorkerSettings

settings = CharacterWorkerSettings()
app = create_celery_app("character_worker", settings, include=["character_worker.tasks"])
journal = open_journal(settings)
runner = JournaledRunner(app, journal)


@cache
def sessions() -> sessionmaker[Session]:
    """A pool child's own (created in the child, after the fork)."""
    return create_sync_sessionmaker(create_sync_engine(settings, pool_size=2))


@cache
def cache_redis() -> redis.Redis:
    """Where the character's read cache and the leaderboards live (`cache_redis_url`)."""
    url = settings.cache_redis_url or settings.redis_url
    # Bounded like every call a worker makes: a Redis that stops answering must not hang a task.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@cache
def rules() -> Rules:
    return load_rules(settings.character_rules_path)


@cache
def missions() -> Missions:
    return load_missions(settings.character_missions_path)


@worker_init.connect
def _on_worker_init(**_: object) -> None:
    prepare_worker(app, settings, journal)
    # A mistake in the rules stops the worker here, not at someone's award.
    rules()
    missions()


def _parent_writes() -> DurableScanWrites:
    """The journal's upkeep (its purge of old records) in the parent: connections opened per
    round (NullPool), so that no pool child is forked holding one."""
    return DurableScanWrites(create_ledger(settings, poolclass=NullPool), journal)


upkeep = Upkeep(journal, cache(_parent_writes), settings)
upkeep.run_with_the_worker()
