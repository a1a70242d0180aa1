"""A profile photo: its squares made and stored under keys of the upload, switched in by
compare-and-set on the upload's number, then the objects of every earlier upload deleted.

At every instant the profile names objects that exist: the new ones are written before the
switch, the old ones deleted only after it. A crash anywhere leaves the old photo (before the
switch) or the new one (after); the redelivery resumes from the journal's checkpoints. An upload
overtaken by a newer one (or by a removal) deletes what it wrote and changes nothing else.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bunri.db.base import utcnow
from bunri.db.models import PhotoStatus, Profile
from bunri.images import PORTRAIT_SIZES, square_portraits
from bunri.images.errors import ImageError
from bunri.journal import Journal, TaskRecord
from bunri.logging import get_logger
from bunri.profiles import SyncProfileCache
from bunri.storage import (
    ObjectStore,
    profile_photo_key,
    profile_photo_prefix,
    profile_photo_upload,
)
from bunri.worker.faults import crash_if_marked
from bunri.worker.slots import Slots
from bunri.worker.visibility import read_when_visible
from storage_worker.offload import run_off_hub
from storage_worker.settings import StorageWorkerSettings

log = get_logger(__name__)


class UploadNotVisible(Exception):
    """The task's upload is newer than the profile shows: the request that published it has not
    committed yet (or never will). Worth another try later."""


SWITCHED = "switched"
CLEANED = "cleaned"


class ProfilePhotos:
    def __init__(
        self,
        settings: StorageWorkerSettings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        cache: SyncProfileCache,
        journal: Journal,
        decode_slots: Slots,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._cache = cache
        self._journal = journal
        self._decode_slots = decode_slots

    def store(self, task: TaskRecord, user_id: uuid.UUID, upload: int, image: bytes | None) -> str:
        """How it ended: `stored`, `removed`, `failed:<code>` or `superseded`; UploadNotVisible
        while the request's commit is not (yet) to be seen."""
        profile = self._wait_for_upload(user_id, upload)
        if profile is None or profile.photo_upload < upload:
            raise UploadNotVisible(f"upload {upload} not committed yet")
        if profile.photo_upload > upload:
            self._drop_upload(user_id, upload)
            return "superseded"
        if image is not None and SWITCHED not in task.steps:
            outcome = self._store_and_switch(task, user_id, upload, image)
            if outcome is not None:
                return outcome
        if CLEANED not in task.steps:
            self._delete_earlier_uploads(user_id, upload)
            self._journal.checkpoint(task.task_id, CLEANED)
        return "stored" if image is not None else "removed"

    def _store_and_switch(
        self, task: TaskRecord, user_id: uuid.UUID, upload: int, image: bytes
    ) -> str | None:
        """None once the new photo is the profile's; otherwise how the task ended."""
        keys = {size: profile_photo_key(user_id, upload, size) for size in PORTRAIT_SIZES}
        if not all(task.steps.get(f"put:{size}") for size in PORTRAIT_SIZES):
            try:
                # Decoding can crash the process: a task suspected of it decodes alone, and one
                # that keeps crashing it is dead-lettered as poison.
                with (
                    self._decode_slots.for_task(suspect=task.suspect),
                    self._journal.hazard(task.task_id),
                ):
                    squares = run_off_hub(
                        square_portraits, image, max_pixels=self._settings.max_image_pixels
                    )
            except ImageError as exc:
                return self._fail(user_id, upload, exc.code)
            for size, data in squares.items():
                self._store.put_if_absent(keys[size], data, "image/jpeg")
                self._journal.checkpoint(task.task_id, f"put:{size}", keys[size])
        # Both squares are stored and nothing points at them yet: where a crash hurts most.
        with self._journal.hazard(task.task_id):
            crash_if_marked(image, task, self._settings)
        version = self._switch(user_id, upload, keys)
        if version is None:
            current = self._get(user_id)
            if current is None or current.photo_upload != upload:
                self._drop_upload(user_id, upload)
                return "superseded"
        else:
            self._cache.written(user_id, version)
        self._journal.checkpoint(task.task_id, SWITCHED)
        return None

    def _switch(self, user_id: uuid.UUID, upload: int, keys: dict[int, str]) -> int | None:
        large, small = max(PORTRAIT_SIZES), min(PORTRAIT_SIZES)
        return self._update(
            user_id,
            upload,
            photo_status=PhotoStatus.READY,
            photo_key=keys[large],
            photo_thumbnail_key=keys[small],
            photo_error=None,
        )

    def _fail(self, user_id: uuid.UUID, upload: int, code: str) -> str:
        """The upload could not be used: the status says so, the earlier photo stays."""
        version = self._update(user_id, upload, photo_status=PhotoStatus.FAILED, photo_error=code)
        if version is not None:
            self._cache.written(user_id, version)
        log.info("profile photo refused", code=code)
        return f"failed:{code}"

    def _update(self, user_id: uuid.UUID, upload: int, **values: Any) -> int | None:
        """Apply `values` if the upload is still current and processing: the new version."""
        with self._sessions() as session:
            version = session.execute(
                update(Profile)
                .where(
                    Profile.user_id == user_id,
                    Profile.photo_upload == upload,
                    Profile.photo_status == PhotoStatus.PROCESSING,
                )
                .values(**values, version=Profile.version + 1, updated_at=utcnow())
                .returning(Profile.version)
            ).scalar_one_or_none()
            session.commit()
        return version

    def fail_for_good(self, user_id: uuid.UUID, upload: int, code: str) -> str:
        """For the task shell, when retries ran out."""
        return self._fail(user_id, upload, code)

    def _get(self, user_id: uuid.UUID) -> Any:
        with self._sessions() as session:
            return session.execute(
                select(Profile.photo_upload, Profile.photo_status, Profile.photo_key).where(
                    Profile.user_id == user_id
                )
            ).first()

    def _wait_for_upload(self, user_id: uuid.UUID, upload: int) -> Any:
        """The profile once it shows `upload` (or a later one); after the wait, as it is: not
        committed yet (a slow commit, or one that failed), or the account gone."""
        return read_when_visible(
            lambda: self._get(user_id),
            lambda profile: profile is not None and profile.photo_upload >= upload,
        )

    def _drop_upload(self, user_id: uuid.UUID, upload: int) -> None:
        """Delete what an overtaken upload stored, unless the profile shows it: a redelivery of
        an upload switched in before a newer one came (which deletes it once it is shown)."""
        current = self._get(user_id)
        shown = None if current is None else current.photo_key
        if shown is not None and profile_photo_upload(shown) == upload:
            return
        # Every version: it was never shown, so nobody could want it back.
        self._store.purge([f"{profile_photo_prefix(user_id)}{upload}/"])

    def _delete_earlier_uploads(self, user_id: uuid.UUID, upload: int) -> None:
        earlier = [
            key
            for key in self._store.list_keys(profile_photo_prefix(user_id))
            if (number := profile_photo_upload(key)) is not None and number < upload
        ]
        if earlier:
            self._store.delete(earlier)
