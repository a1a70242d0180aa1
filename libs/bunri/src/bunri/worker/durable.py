"""A worker's final writes to a scan that survive PostgreSQL being away: written now if the
database answers, else kept in the journal (fsync'd) and written when it is back, without running
the task again."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy.exc

from bunri.journal import Forward, Journal
from bunri.logging import get_logger
from bunri.worker.ledger import ScanLedger

log = get_logger(__name__)

DATABASE_UNAVAILABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)

# A forwarded write the database refuses (not: cannot take now) this many times is abandoned.
MAX_REFUSALS = 5

COMPLETE = "complete"
FAIL = "fail"


class DurableScanWrites:
    def __init__(self, ledger: ScanLedger, journal: Journal) -> None:
        self._ledger = ledger
        self._journal = journal

    def complete(self, task_id: str, scan_id: uuid.UUID, result: dict[str, Any]) -> str:
        return self._now_or_later(task_id, scan_id, COMPLETE, {"result": result})

    def fail(self, task_id: str, scan_id: uuid.UUID, code: str, message: str, **values: str) -> str:
        """`values`: columns to set with the failure (the keys of objects already stored, so
        that none is left unaccounted for)."""
        payload = {"code": code, "message": message, "values": values}
        return self._now_or_later(task_id, scan_id, FAIL, payload)

    def flush(self) -> tuple[int, int]:
        """Write what waits in the journal: (written, still waiting)."""
        written = waiting = 0
        for forward in self._journal.forwards():
            try:
                outcome = self._apply(uuid.UUID(forward.subject), forward.kind, forward.payload)
            except DATABASE_UNAVAILABLE as exc:
                self._journal.forward_failed(forward.task_id, repr(exc))
                return written, waiting + len(self._journal.forwards())
            except Exception as exc:
                # This write itself is bad (a bug, data the database refuses): set it aside
                # after a few tries so that it never holds up the writes queued behind it.
                outcome = self._refused(forward, exc)
            if outcome is None:
                waiting += 1
                continue
            self._journal.forwarded(forward.task_id, outcome)
            written += 1
            log.info("forwarded write applied", scan_id=forward.subject, outcome=outcome)
        return written, waiting

    def _refused(self, forward: Forward, exc: Exception) -> str | None:
        log.exception("forwarded write refused", scan_id=forward.subject, kind=forward.kind)
        self._journal.forward_failed(forward.task_id, repr(exc))
        if forward.attempts + 1 < MAX_REFUSALS:
            return None
        try:
            self._ledger.fail_by_id(
                uuid.UUID(forward.subject), "internal_error", "Something went wrong on our side."
            )
        except Exception:
            log.exception(
                "scan not failed either; the reaper's sweep will", scan_id=forward.subject
            )
        return f"abandoned: {type(exc).__name__}"

    def _now_or_later(
        self, task_id: str, scan_id: uuid.UUID, kind: str, payload: dict[str, Any]
    ) -> str:
        try:
            outcome = self._apply(scan_id, kind, payload)
        except DATABASE_UNAVAILABLE as exc:
            outcome = None
            log.warning(
                "database unavailable; write kept in the journal",
                scan_id=str(scan_id),
                kind=kind,
                error=type(exc).__name__,
            )
        if outcome is None:
            self._journal.forward(task_id, str(scan_id), kind, payload)
            return "forwarded"
        return outcome

    def _apply(self, scan_id: uuid.UUID, kind: str, payload: dict[str, Any]) -> str | None:
        """What happened to the scan, or None if it cannot take this write yet."""
        if kind == COMPLETE:
            return self._ledger.complete_by_id(scan_id, payload["result"])
        if kind == FAIL:
            failed = self._ledger.fail_by_id(
                scan_id, payload["code"], payload["message"], **payload.get("values", {})
            )
            return f"failed:{payload['code']}" if failed is not None else "already_finished"
        raise ValueError(f"unknown forwarded write {kind!r}")


def describe(forward: Forward) -> str:
    if forward.kind == COMPLETE:
        classification = forward.payload["result"].get("classification", {})
        return f"complete as {classification.get('middle', '?')}"
    return f"fail with {forward.payload.get('code')}"
