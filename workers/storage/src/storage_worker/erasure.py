"""Erasing a person who deleted their account: every row they own, every object in S3, every key
in Redis and every record in this node's journal that names them or their scans.

my-api has already made the account unusable (no e-mail, no sessions, `deleted_at` set) in the
request; this runs after, idempotently: each step is checkpointed, and a step interrupted by a
crash runs again whole (deleting what is already gone is no error). Objects and Redis keys go
first, the rows last, so that an erasure lost at any point is found again by its account.
"""

from __future__ import annotations

import json
import uuid

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bunri.character.campaigns import forget_campaign_membership
from bunri.character.leaderboard import forget_person
from bunri.character.projections import character_cache_key
from bunri.db.models import OutboxMessage, Scan, User
from bunri.journal import Journal, TaskRecord
from bunri.logging import get_logger, without_context
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from bunri.profiles import profile_cache_key
from bunri.redis import KEY_PREFIX
from bunri.scans.events import stream_key
from bunri.storage import ObjectStore, profile_photo_prefix
from bunri.worker.visibility import read_when_visible

log = get_logger(__name__)

# my-api publishes the erasure just before committing the request.
VISIBILITY_TIMEOUT_SECONDS = 5.0
_GONE = object()

INVENTORY = "inventory"
OBJECTS = "objects"
REDIS_KEYS = "redis"
ROWS = "rows"


def _scan_prefix(scan_id: str) -> str:
    return f"scans/{scan_id}/"


class AccountEraser:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        redis_client: redis.Redis,
        cache_redis_client: redis.Redis,
        journal: Journal,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._redis = redis_client
        self._cache_redis = cache_redis_client
        self._journal = journal

    def erase(self, task: TaskRecord, user_id: uuid.UUID, erasure_id: str) -> str:
        """How it ended: `erased`, `not_deleted` (the account was not asked to go) or
        `nothing_left`."""
        inventory = task.steps.get(INVENTORY)
        if inventory is None:
            taken = self._take_inventory(user_id)
            if isinstance(taken, str):
                self._journal.forget_subjects([str(user_id)], including=task.task_id)
                return taken
            inventory = json.dumps(taken)
            self._journal.checkpoint(task.task_id, INVENTORY, inventory)
        scans: list[str] = json.loads(inventory)["scans"]
        # The rows go last: until then the account (its `deleted_at`) is what the reaper's sweep
        # finds to send a lost erasure again, on whichever node, from the start.
        objects = 0
        if OBJECTS not in task.steps:
            objects = self._purge_objects(user_id, scans)
            self._journal.checkpoint(task.task_id, OBJECTS)
        if REDIS_KEYS not in task.steps:
            self._delete_redis_keys(user_id, scans)
            self._journal.checkpoint(task.task_id, REDIS_KEYS)
        if ROWS not in task.steps:
            self._delete_rows(user_id, scans)
            self._journal.checkpoint(task.task_id, ROWS)
        # Again, now that no row names them: an image a worker stored meanwhile (its scan's task
        # had read the scan before the rows went) goes too.
        objects += self._purge_objects(user_id, scans)
        # And off the boards again: a projection that read the standing before `deleted_at`
        # was set may have written it back since.
        forget_person(self._cache_redis, user_id)
        records = self._journal.forget_subjects([str(user_id), *scans], including=task.task_id)
        # The audit line: which erasure, and how much, never who.
        with without_context("user_id", "task_id"):
            log.info(
                "account erased",
                erasure_id=erasure_id,
                scans=len(scans),
                objects=objects,
                journal_records=records,
            )
        return "erased"

    def _take_inventory(self, user_id: uuid.UUID) -> dict[str, list[str]] | str:
        deleted_at = self._wait_for_the_request(user_id)
        if deleted_at is _GONE:
            return "nothing_left"
        if deleted_at is None:
            # The request that published this rolled back (Redis refused the revocations): the
            # person still has their account. (A commit slower than the wait: the reaper sends
            # the erasure again later.)
            log.warning("erasure for an account not being deleted; ignored")
            return "not_deleted"
        with self._sessions() as session:
            scans = session.scalars(select(Scan.id).where(Scan.user_id == user_id)).all()
        # Every object is under its scan's prefix or the profile's: the scans' ids find them all.
        return {"scans": [str(scan_id) for scan_id in scans]}

    def _wait_for_the_request(self, user_id: uuid.UUID) -> object:
        """The account's `deleted_at`, waiting a little for it: my-api publishes the erasure
        just before it commits. `_GONE` for an account that is not there."""

        def read() -> object:
            with self._sessions() as session:
                user = session.get(User, user_id)
                return _GONE if user is None else user.deleted_at

        return read_when_visible(
            read, lambda deleted_at: deleted_at is not None, VISIBILITY_TIMEOUT_SECONDS
        )

    def _delete_rows(self, user_id: uuid.UUID, scan_ids: list[str]) -> None:
        """The account and, by its foreign keys' cascades, everything that names it; and the
        outbox messages still waiting to carry the person's photos or tasks."""
        with self._sessions() as session:
            session.execute(
                delete(OutboxMessage).where(OutboxMessage.task_id.like(f"%:{user_id}%"))
            )
            for start in range(0, len(scan_ids), 1000):
                uploads = [f"{STORE_SCAN_IMAGE}:{scan_id}" for scan_id in scan_ids[start:][:1000]]
                session.execute(delete(OutboxMessage).where(OutboxMessage.task_id.in_(uploads)))
            forget_campaign_membership(session, user_id)
            session.execute(delete(User).where(User.id == user_id, User.deleted_at.is_not(None)))
            session.commit()

    def _purge_objects(self, user_id: uuid.UUID, scans: list[str]) -> int:
        """Every object under the profile's prefix and each scan's, every version of it."""
        return self._store.purge([profile_photo_prefix(user_id), *map(_scan_prefix, scans)])

    def _delete_redis_keys(self, user_id: uuid.UUID, scans: list[str]) -> None:
        self._cache_redis.delete(profile_cache_key(user_id), character_cache_key(user_id))
        forget_person(self._cache_redis, user_id)
        named = [profile_cache_key(user_id), *map(stream_key, scans)]
        # Whatever else names the person (rate limits): a scan of the keyspace, which an
        # erasure (rare) can afford.
        named += [
            key.decode()
            for key in self._redis.scan_iter(match=f"{KEY_PREFIX}*{user_id}*", count=1000)
        ]
        self._redis.delete(*named)
