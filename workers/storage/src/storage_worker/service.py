"""Storing a scan's image: normalize it (orientation applied, metadata gone), put the original and
the thumbnail in object storage under keys from the scan id, then hand the scan to the AI worker.

Every step can run again after a crash or a redelivery without harm: object keys are fixed, state
moves by compare-and-set, and the hand-off's task id is the scan's.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from bunri.db.models import Scan, ScanStatus
from bunri.images import NormalizedImage, normalize
from bunri.images.errors import ImageError
from bunri.logging import get_logger
from bunri.storage import ObjectStore, scan_object_key
from bunri.worker.scans import ScanLedger
from storage_worker.offload import run_off_hub
from storage_worker.settings import StorageWorkerSettings

log = get_logger(__name__)

HandOff = Callable[[Scan, bytes], None]


class StorageService:
    def __init__(
        self,
        settings: StorageWorkerSettings,
        ledger: ScanLedger,
        store: ObjectStore,
        hand_off: HandOff,
        decode_slots: AbstractContextManager[object] | None = None,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._store = store
        self._hand_off = hand_off
        self._decode_slots = decode_slots or threading.BoundedSemaphore(
            settings.image_decode_concurrency
        )

    def store(self, scan_id: uuid.UUID, image: bytes) -> None:
        scan = self._ledger.wait_for(scan_id, self._settings.scan_visibility_timeout_seconds)
        if scan is None:
            # Published by a request whose commit then failed: nobody was told it was accepted.
            log.warning("no scan for this image; dropping it", scan_id=str(scan_id))
            return
        if scan.status not in (ScanStatus.QUEUED, ScanStatus.STORING, ScanStatus.STORED):
            log.info("scan already past storage", scan_id=str(scan_id), status=scan.status)
            return
        if scan.status is ScanStatus.QUEUED:
            scan = self._moved(scan, ScanStatus.STORING)
            if scan is None:
                return
        try:
            with self._decode_slots:
                normalized = run_off_hub(
                    normalize,
                    image,
                    max_pixels=self._settings.max_image_pixels,
                    thumbnail_px=self._settings.thumbnail_px,
                    analysis_px=self._settings.analysis_px,
                )
        except ImageError as exc:
            self._ledger.fail(scan, exc.code, exc.detail)
            return
        if scan.status is ScanStatus.STORING:
            scan = self._put_objects(scan, normalized)
            if scan is None:
                return
        self._hand_off(scan, normalized.analysis)

    def _put_objects(self, scan: Scan, normalized: NormalizedImage) -> Scan | None:
        original_key = scan_object_key(scan.id, "original", normalized.original_media_type)
        thumbnail_key = scan_object_key(scan.id, "thumbnail", normalized.thumbnail_media_type)
        self._store.put(original_key, normalized.original, normalized.original_media_type)
        self._store.put(thumbnail_key, normalized.thumbnail, normalized.thumbnail_media_type)
        return self._moved(
            scan, ScanStatus.STORED, original_key=original_key, thumbnail_key=thumbnail_key
        )

    def _moved(self, scan: Scan, to: ScanStatus, **values: object) -> Scan | None:
        moved = self._ledger.advance(scan, to, **values)
        if moved is None:
            log.info("scan moved on meanwhile", scan_id=str(scan.id), wanted=to)
        return moved
