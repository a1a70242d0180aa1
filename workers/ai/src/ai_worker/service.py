"""Analysing a stored scan: classify its image, attach the guide, write the result by
compare-and-set (a duplicate or late run changes nothing)."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from ai_worker.classifier import Classifier, ModelUnavailable
from ai_worker.results import build_result
from ai_worker.settings import AiWorkerSettings
from bunri.db.models import ScanStatus
from bunri.guides import load_taxonomy
from bunri.logging import get_logger
from bunri.worker.scans import ScanLedger

log = get_logger(__name__)


class AnalysisService:
    def __init__(
        self,
        settings: AiWorkerSettings,
        ledger: ScanLedger,
        classifier: Classifier | ModelUnavailable,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._classifier = classifier

    def analyze(self, scan_id: uuid.UUID, image: bytes) -> None:
        scan = self._ledger.get(scan_id)
        if scan is None:
            log.warning("no scan for this analysis; dropping it", scan_id=str(scan_id))
            return
        if scan.status is ScanStatus.STORED:
            moved = self._ledger.advance(scan, ScanStatus.ANALYZING)
            if moved is None:
                return
            scan = moved
        if scan.status is not ScanStatus.ANALYZING:
            log.info("scan not waiting for analysis", scan_id=str(scan_id), status=scan.status)
            return
        if isinstance(self._classifier, ModelUnavailable):
            self._ledger.fail(scan, ModelUnavailable.code, str(self._classifier))
            return
        try:
            with Image.open(io.BytesIO(image), formats=["JPEG"]) as opened:
                picture = opened.convert("RGB")
        except (OSError, SyntaxError, ValueError):
            self._ledger.fail(scan, "image_corrupt", "The analysis image could not be read.")
            return
        try:
            (scores,) = self._classifier.classify([picture])
        except ModelUnavailable as exc:
            self._ledger.fail(scan, ModelUnavailable.code, str(exc))
            return
        result = build_result(
            scores,
            load_taxonomy(),
            backend=self._classifier.backend,
            model_name=self._classifier.model_name,
            unsure_below=self._settings.unsure_below,
        )
        self._ledger.advance(scan, ScanStatus.COMPLETED, result=result)
