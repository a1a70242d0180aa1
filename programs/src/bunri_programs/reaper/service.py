"""What a dead letter means for its subject: the scan it carried fails with the reason, and so do
a batch question and a profile photo; an erasure is never given up (the sweep sends it again)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bunri.chat.batch import fail_job
from bunri.db.base import utcnow
from bunri.db.models import PhotoStatus, Profile, Scan, ScanStatus, User
from bunri.logging import get_logger
from bunri.messaging.dead_letters import MESSAGES, dead_letter_reason
from bunri.messaging.protocol import task_arguments
from bunri.messaging.tasks import (
    ANALYZE_SCAN,
    ANSWER_CHAT_BATCH,
    ERASE_ACCOUNT,
    GRANT_CAMPAIGN_CHUNK,
    HANDLE_EVENT,
    STORE_PROFILE_PHOTO,
    STORE_SCAN_IMAGE,
)
from bunri.profiles import SyncProfileCache
from bunri.worker.ledger import ScanLedger

log = get_logger(__name__)

STALLED = "stalled"
STALLED_MESSAGE = "The scan stopped making progress and was given up; please try again."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    task_name: str
    task_id: str
    subject: str | None
    reason: str


def read_dead_letter(
    body: bytes | str | None, headers: Mapping[str, Any] | None, content_type: str | None
) -> DeadLetter:
    """The task, its subject (a scan id: the first argument) and why it died."""
    headers = headers or {}
    task_name = _text(headers.get("task"))
    task_id = _text(headers.get("id"))
    subject: str | None = None
    raw = body.encode() if isinstance(body, str) else body or b""
    with contextlib.suppress(ValueError):
        args, _ = task_arguments(raw, content_type)
        if args:
            subject = str(args[0])
    if subject is None and ":" in task_id:
        # Our task ids are "<task name>:<subject id>[:<unit>]".
        subject = task_id.split(":")[-1 if task_id.count(":") == 1 else -2]
    return DeadLetter(task_name, task_id, subject, dead_letter_reason(headers))


def _subject_id(dead: DeadLetter) -> uuid.UUID | None:
    try:
        return uuid.UUID(dead.subject or "")
    except ValueError:
        log.warning("dead letter without a subject id; dropped", task_id=dead.task_id)
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


class Reaper:
    def __init__(self, ledger: ScanLedger, profile_cache: SyncProfileCache | None = None) -> None:
        """`profile_cache`: on the caches' Redis (default: the ledger's)."""
        self._ledger = ledger
        self._profile_cache = profile_cache or SyncProfileCache(ledger.redis)
        self._handlers: dict[str, Callable[[DeadLetter], str]] = {
            STORE_SCAN_IMAGE: self._fail_scan,
            ANALYZE_SCAN: self._fail_scan,
            ANSWER_CHAT_BATCH: self._fail_batch_job,
            STORE_PROFILE_PHOTO: self._fail_profile_photo,
            ERASE_ACCOUNT: self._erasure_lost,
            HANDLE_EVENT: self._event_lost,
            GRANT_CAMPAIGN_CHUNK: self._chunk_lost,
        }

    def handle(self, dead: DeadLetter) -> str:
        """What was done; raises the database's errors (the message then waits)."""
        handler = self._handlers.get(dead.task_name)
        if handler is None:
            log.warning("dead letter of an unknown task; dropped", task=dead.task_name)
            return "unknown_task"
        return handler(dead)

    def _fail_scan(self, dead: DeadLetter) -> str:
        scan_id = _subject_id(dead)
        if scan_id is None:
            return "no_subject"
        failed = self._ledger.fail_by_id(scan_id, dead.reason, MESSAGES[dead.reason])
        outcome = f"failed:{dead.reason}" if failed is not None else "already_finished"
        log.info("dead letter reaped", scan_id=str(scan_id), reason=dead.reason, outcome=outcome)
        return outcome

    def _fail_batch_job(self, dead: DeadLetter) -> str:
        job_id = _subject_id(dead)
        if job_id is None:
            return "no_subject"
        failed = fail_job(self._ledger.sessions, job_id, dead.reason, MESSAGES[dead.reason])
        outcome = f"failed:{dead.reason}" if failed else "already_finished"
        log.info("dead letter reaped", job_id=str(job_id), reason=dead.reason, outcome=outcome)
        return outcome

    def _fail_profile_photo(self, dead: DeadLetter) -> str:
        user_id = _subject_id(dead)
        # Its unit of work is "<upload>.<token>".
        upload = dead.task_id.rsplit(":", 1)[-1].split(".")[0]
        if user_id is None or not upload.isdigit():
            return "no_subject"
        with self._ledger.sessions() as session:
            version = session.execute(
                update(Profile)
                .where(
                    Profile.user_id == user_id,
                    Profile.photo_upload == int(upload),
                    Profile.photo_status == PhotoStatus.PROCESSING,
                )
                .values(
                    photo_status=PhotoStatus.FAILED,
                    photo_error=dead.reason,
                    version=Profile.version + 1,
                    updated_at=utcnow(),
                )
                .returning(Profile.version)
            ).scalar_one_or_none()
            session.commit()
        if version is None:
            return "already_finished"
        self._profile_cache.written(user_id, version)
        log.info("dead letter reaped", reason=dead.reason, outcome="photo_failed")
        return f"failed:{dead.reason}"

    def sweep_photos(self, stalled_after: timedelta, limit: int = 500) -> int:
        """Fail profile photos `processing` for longer than `stalled_after` (past the queue's TTL
        and every retry): whatever lost their task, the profile no longer says it is coming."""
        cutoff = utcnow() - stalled_after
        with self._ledger.sessions() as session:
            stalled = session.execute(
                update(Profile)
                .where(
                    Profile.photo_status == PhotoStatus.PROCESSING,
                    Profile.updated_at < cutoff,
                    Profile.user_id.in_(
                        select(Profile.user_id)
                        .where(
                            Profile.photo_status == PhotoStatus.PROCESSING,
                            Profile.updated_at < cutoff,
                        )
                        .limit(limit)
                    ),
                )
                .values(
                    photo_status=PhotoStatus.FAILED,
                    photo_error=STALLED,
                    version=Profile.version + 1,
                    updated_at=utcnow(),
                )
                .returning(Profile.user_id, Profile.version)
            ).all()
            session.commit()
        for user_id, version in stalled:
            self._profile_cache.written(user_id, version)
        if stalled:
            log.warning("stalled profile photos failed", count=len(stalled))
        return len(stalled)

    def _erasure_lost(self, dead: DeadLetter) -> str:
        # Never dropped for good: the account still carries `deleted_at`, and `overdue_erasures`
        # finds it and sends its erasure again.
        log.error("erasure dead-lettered; it will be sent again", reason=dead.reason)
        return "resent_later"

    def _event_lost(self, dead: DeadLetter) -> str:
        # Poison (it kept killing the character worker) or a week unconsumed: its points are
        # not counted. Said loudly; the event's change itself (a scan, an answer) stands.
        log.error(
            "domain event dead-lettered; not counted", reason=dead.reason, task_id=dead.task_id
        )
        return "event_dropped"

    def _chunk_lost(self, dead: DeadLetter) -> str:
        # The chunk stays not done in the database: `bunri rewards resume` sends it again.
        log.error(
            "campaign chunk dead-lettered; `bunri rewards resume` sends it again",
            reason=dead.reason,
            task_id=dead.task_id,
        )
        return "resend_with_cli"

    def overdue_erasures(self, overdue_after: timedelta, limit: int = 100) -> list[uuid.UUID]:
        """Accounts asked to be deleted longer ago than `overdue_after` and still there."""
        cutoff = utcnow() - overdue_after
        with self._ledger.sessions() as session:
            return list(
                session.scalars(
                    select(User.id).where(User.deleted_at < cutoff).order_by(User.id).limit(limit)
                )
            )

    def sweep(self, stalled_after: timedelta, limit: int = 500) -> int:
        """Fail scans that have not moved for `stalled_after` (beyond every queue TTL and retry),
        whatever lost them: a journal on a lost disk, a message acknowledged by a bug."""
        cutoff = utcnow() - stalled_after
        with self._ledger.sessions() as session:
            stalled = session.scalars(
                select(Scan.id)
                .where(
                    Scan.status.not_in([ScanStatus.COMPLETED, ScanStatus.FAILED]),
                    Scan.updated_at < cutoff,
                )
                .limit(limit)
            ).all()
        swept = sum(
            1
            for scan_id in stalled
            if self._ledger.fail_by_id(scan_id, STALLED, STALLED_MESSAGE) is not None
        )
        if swept:
            log.warning("stalled scans failed", count=swept)
        return swept
