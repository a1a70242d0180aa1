"""How a scan reads from the outside: the body of GET /api/v1/scans/{id} (DESIGN.md section 3),
also carried by the terminal progress event."""

from __future__ import annotations

from typing import Any

from bunri.db.models import Scan, ScanStatus
from bunri.locations.kinds import locations_link

SCANS_PATH = "/api/v1/scans"


def scan_view(scan: Scan) -> dict[str, Any]:
    stored = scan.original_key is not None
    return {
        "scan_id": str(scan.id),
        "status": scan.status.value,
        "progress": scan.progress,
        "note": scan.note,
        "created_at": scan.created_at.isoformat(),
        "completed_at": scan.completed_at.isoformat() if scan.completed_at else None,
        "image": {
            "url": f"{SCANS_PATH}/{scan.id}/image",
            "thumbnail_url": f"{SCANS_PATH}/{scan.id}/thumbnail",
        }
        if stored
        else None,
        "result": _with_locations(scan.result) if scan.status is ScanStatus.COMPLETED else None,
        "error": {"code": scan.error_code, "message": scan.error_message}
        if scan.status is ScanStatus.FAILED
        else None,
        # The owner's feedback, which scan-api reads in beside the scan. A progress event is
        # written as the scan completes, before any feedback can be given.
        "feedback": None,
    }


def event_data(scan: Scan) -> dict[str, Any]:
    """What a progress event says: status and progress, and on the terminal event the whole
    scan (so a client needs no second request for the result)."""
    data: dict[str, Any] = {"status": scan.status.value, "progress": scan.progress}
    if scan.status.terminal:
        data["scan"] = scan_view(scan)
    return data


def _with_locations(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """Read-time, so that every result ever stored links to where its class is taken."""
    if result is None or "guide" not in result:
        return result
    middle = result.get("classification", {}).get("middle")
    link = locations_link(middle) if middle else None
    return result | {"guide": result["guide"] | {"locations_url": link}}
