from __future__ import annotations

from bunri.errors import BunriError, Conflict, NotFound, RateLimited


class ImageNotStored(NotFound):
    code = "image_not_stored"
    message = "This scan's image is not stored yet (or the scan failed before storing it)."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    message = (
        "This Idempotency-Key was already used for a different upload; use a new key for a new "
        "scan."
    )


class ScanNotCompleted(Conflict):
    code = "scan_not_completed"
    message = "Feedback is for a completed scan; this one has no answer to correct yet."


class FeedbackClassUnknown(BunriError):
    status_code = 422
    code = "unknown_class"
    message = "No such class in the waste taxonomy (GET /api/v1/guides lists them)."


class FeedbackNotFound(NotFound):
    code = "feedback_not_found"
    message = "This scan has no feedback."


class TooManyScansInFlight(RateLimited):
    code = "too_many_scans_in_flight"
    message = (
        "You have many photos still being processed; send more once some of them are answered."
    )
