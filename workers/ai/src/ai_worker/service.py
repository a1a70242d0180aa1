"""Analysing a stored scan: classify its image, attach the guide, write the result by
compare-and-set (a duplicate or late run changes nothing).

The image travels in the message, so the model runs even while PostgreSQL is away: the result is
then kept in the node's journal and written when the database is back, without a second run. A
classification is checkpointed in the journal the moment it exists, so a crash after it does not
run the model again either.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from PIL import Image

from ai_worker.batching import unbatched
from ai_worker.classifier import Classifier, ModelUnavailable
from ai_worker.results import build_result, unsure_threshold
from ai_worker.settings import AiWorkerSettings
from bunri.db.models import Scan, ScanStatus
from bunri.guides import load_taxonomy
from bunri.journal import Journal, TaskRecord
from bunri.logging import get_logger
from bunri.metrics.pipeline import CLASSIFY
from bunri.worker.durable import DATABASE_UNAVAILABLE, DurableScanWrites
from bunri.worker.faults import crash_if_marked
from bunri.worker.ledger import ScanLedger

log = get_logger(__name__)

RESULT = "result"


class UnreadableImage(Exception):
    """The analysis image does not decode (the model's own errors are something else)."""


class AnalysisService:
    def __init__(
        self,
        settings: AiWorkerSettings,
        ledger: ScanLedger,
        writes: DurableScanWrites,
        journal: Journal,
        classifier: Classifier | ModelUnavailable,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._writes = writes
        self._journal = journal
        self._classifier = classifier

    def analyze(self, task: TaskRecord, scan_id: uuid.UUID, image: bytes) -> str:
        """How it ended: `completed`, `failed:<code>`, `forwarded`, or why there was nothing to
        do."""
        try:
            ready = self._ready_for_analysis(scan_id)
        except DATABASE_UNAVAILABLE:
            log.warning("database unavailable; analysing anyway", scan_id=str(scan_id))
            ready = None
        if isinstance(ready, str):
            return ready
        if isinstance(self._classifier, ModelUnavailable):
            return self._writes.fail(
                task.task_id, scan_id, ModelUnavailable.code, str(self._classifier)
            )
        result = self._checkpointed_result(task)
        if result is None:
            try:
                with CLASSIFY.time():
                    result = self._classify(task, image)
            except ModelUnavailable as exc:
                return self._writes.fail(task.task_id, scan_id, ModelUnavailable.code, str(exc))
            except UnreadableImage:
                return self._writes.fail(
                    task.task_id, scan_id, "image_corrupt", "The analysis image could not be read."
                )
            self._journal.checkpoint(task.task_id, RESULT, json.dumps(result))
        return self._writes.complete(task.task_id, scan_id, result)

    def _ready_for_analysis(self, scan_id: uuid.UUID) -> Scan | str:
        """The scan, moved to `analyzing`; or why there is nothing to do."""
        scan = self._ledger.get(scan_id)
        if scan is None:
            log.warning("no scan for this analysis; dropping it", scan_id=str(scan_id))
            return "no_scan"
        if scan.status is ScanStatus.STORED:
            moved = self._ledger.advance(scan, ScanStatus.ANALYZING)
            if moved is None:
                return "moved_on"
            scan = moved
        if scan.status is not ScanStatus.ANALYZING:
            log.info("scan not waiting for analysis", scan_id=str(scan_id), status=scan.status)
            return f"skipped:{scan.status}"
        return scan

    def _checkpointed_result(self, task: TaskRecord) -> dict[str, Any] | None:
        saved = task.steps.get(RESULT)
        if not saved:
            return None
        log.info("classification reused from the journal", task_id=task.task_id)
        result: dict[str, Any] = json.loads(saved)
        return result

    def _classify(self, task: TaskRecord, image: bytes) -> dict[str, Any]:
        assert not isinstance(self._classifier, ModelUnavailable)
        # Native decoders and the model can take the child down: a crash here counts.
        with self._journal.hazard(task.task_id):
            crash_if_marked(image, task, self._settings)
            try:
                with Image.open(io.BytesIO(image), formats=["JPEG"]) as opened:
                    picture = opened.convert("RGB")
            except (OSError, SyntaxError, ValueError) as exc:
                raise UnreadableImage() from exc
            # A suspect (it was in the model when a process died) must not take a batch down.
            model = unbatched(self._classifier) if task.suspect else self._classifier
            (scores,) = model.classify([picture])
        log.info("classified", task_id=task.task_id, model=self._classifier.model_name)
        return build_result(
            scores,
            load_taxonomy(),
            backend=self._classifier.backend,
            model_name=self._classifier.model_name,
            unsure_below=unsure_threshold(self._settings.unsure_below, self._classifier),
        )
