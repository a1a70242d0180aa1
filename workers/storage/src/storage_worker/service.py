"""Storing a scan's image: normalize it (orientation applied, metadata gone), put the original and
the thumbnail in object storage under keys from the scan id, then hand the scan to the AI worker.

Every step can run again after a crash or a redelivery without being done twice: each one is
checkpointed in the node's journal and skipped on the next attempt, objects are put only if absent
(a put that a crash interrupted after S3 had it is not repeated), and state moves by
compare-and-set. Only the hand-off can go out twice (a crash between it and its checkpoint); its
task id is the scan's, so the AI side recognises the copy.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from bunri.db.models import Scan, ScanStatus
from bunri.images import NormalizedImage, normalize
from bunri.images.errors import ImageError
from bunri.journal import Journal, TaskRecord
from bunri.logging import get_logger
from bunri.metrics.pipeline import HAND_OFF, NORMALIZE, STORE
from bunri.storage import ObjectStore, scan_object_key
from bunri.worker.faults import crash_if_marked
from bunri.worker.ledger import ScanLedger
from bunri.worker.slots import Slots
from storage_worker.offload import run_off_hub
from storage_worker.settings import StorageWorkerSettings

log = get_logger(__name__)

HandOff = Callable[[Scan, bytes], None]

# Journal checkpoints, in the order they are reached.
ANALYSIS_IMAGE = "analysis_image"
ORIGINAL = "original"
THUMBNAIL = "thumbnail"
HANDED_OFF = "handed_off"


class StorageService:
    def __init__(
        self,
        settings: StorageWorkerSettings,
        ledger: ScanLedger,
        store: ObjectStore,
        hand_off: HandOff,
        journal: Journal,
        decode_slots: Slots | None = None,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._store = store
        self._hand_off = hand_off
        self._journal = journal
        # Decoding holds a whole bitmap and can crash the process: a few at a time, and a task
        # suspected of crashing it alone.
        self.decode_slots = decode_slots or Slots(settings.image_decode_concurrency)

    def store(self, task: TaskRecord, scan_id: uuid.UUID, image: bytes) -> str:
        """How it ended: `stored`, `failed:<code>`, or why there was nothing to do."""
        scan = self._ledger.wait_for(scan_id, self._settings.scan_visibility_timeout_seconds)
        if scan is None:
            # Published by a request whose commit then failed: nobody was told it was accepted.
            log.warning("no scan for this image; dropping it", scan_id=str(scan_id))
            return "no_scan"
        if scan.status not in (ScanStatus.QUEUED, ScanStatus.STORING, ScanStatus.STORED):
            log.info("scan already past storage", scan_id=str(scan_id), status=scan.status)
            return f"skipped:{scan.status}"
        if scan.status is ScanStatus.QUEUED:
            scan = self._ledger.advance(scan, ScanStatus.STORING)
            if scan is None:
                return "moved_on"
        steps = task.steps
        normalized: NormalizedImage | None = None
        if not all(steps.get(step) for step in (ANALYSIS_IMAGE, ORIGINAL, THUMBNAIL)):
            try:
                with NORMALIZE.time():
                    normalized = self._normalize(task, image)
            except ImageError as exc:
                self._ledger.fail(scan, exc.code, exc.detail)
                return f"failed:{exc.code}"
            self._journal.checkpoint(task.task_id, ANALYSIS_IMAGE, normalized.analysis)
        analysis = normalized.analysis if normalized else bytes(steps[ANALYSIS_IMAGE])
        if scan.status is ScanStatus.STORING:
            with STORE.time():
                original_key = self._put_once(task, ORIGINAL, normalized)
                thumbnail_key = self._put_once(task, THUMBNAIL, normalized)
            scan = self._ledger.advance(
                scan,
                ScanStatus.STORED,
                original_key=original_key,
                thumbnail_key=thumbnail_key,
                # The same photo sent again is recognised by it (it earns no character points).
                image_digest=hashlib.sha256(image).digest(),
            )
            if scan is None:
                return "moved_on"
        if HANDED_OFF not in steps:
            with HAND_OFF.time():
                self._hand_off(scan, analysis)
            self._journal.checkpoint(task.task_id, HANDED_OFF)
        return "stored"

    def _normalize(self, task: TaskRecord, image: bytes) -> NormalizedImage:
        with self.decode_slots.for_task(suspect=task.suspect), self._journal.hazard(task.task_id):
            crash_if_marked(image, task, self._settings)
            return run_off_hub(
                normalize,
                image,
                max_pixels=self._settings.max_image_pixels,
                thumbnail_px=self._settings.thumbnail_px,
                analysis_px=self._settings.analysis_px,
            )

    def _put_once(self, task: TaskRecord, variant: str, normalized: NormalizedImage | None) -> str:
        """The object's key, putting it first unless an earlier attempt did."""
        done = task.steps.get(variant)
        if done:
            return str(done)
        assert normalized is not None  # no checkpoint for this variant: the image was decoded
        if variant == ORIGINAL:
            data, media_type = normalized.original, normalized.original_media_type
        else:
            data, media_type = normalized.thumbnail, normalized.thumbnail_media_type
        key = scan_object_key(task.subject, variant, media_type)
        if not self._store.put_if_absent(key, data, media_type):
            log.info("object already stored by an earlier attempt", key=key)
        self._journal.checkpoint(task.task_id, variant, key)
        return key
