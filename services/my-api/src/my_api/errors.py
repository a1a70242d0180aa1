from __future__ import annotations

from typing import Any

from bunri.errors import BunriError, NotFound


class VersionConflict(BunriError):
    status_code = 412
    code = "version_conflict"
    message = (
        "The profile changed since this version was read (on another device, or by the photo "
        "being processed); `current` is the profile now: apply the change to it and send its "
        "ETag."
    )

    def __init__(self, current: dict[str, Any], etag: str) -> None:
        super().__init__(headers={"ETag": etag}, extra={"current": current})


class PreconditionRequired(BunriError):
    status_code = 428
    code = "precondition_required"
    message = "Send If-Match with the profile's ETag (from GET /api/v1/my/profile)."


class InvalidIfMatch(BunriError):
    code = "invalid_if_match"
    message = (
        'If-Match must be the profile\'s ETag as given, a quoted version such as "3" (a list '
        "of them is allowed; weak tags and * are not)."
    )


class NothingToChange(BunriError):
    status_code = 422
    code = "nothing_to_change"
    message = "The patch names no field to change."


class InvalidNickname(BunriError):
    status_code = 422
    code = "invalid_nickname"


class PhotoNotFound(NotFound):
    code = "photo_not_found"
    message = "This profile has no photo."


class ReauthenticationFailed(BunriError):
    status_code = 403
    code = "reauthentication_failed"
    message = "The password is wrong; the account was not deleted."


class PasswordRequired(BunriError):
    status_code = 422
    code = "password_required"
    message = "Enter the account's password to delete it."


class RecentSignInRequired(BunriError):
    status_code = 403
    code = "recent_sign_in_required"
    message = "Sign in again (within the last 5 minutes) to delete this account."


class AccountBeingDeleted(BunriError):
    status_code = 409
    code = "account_being_deleted"
    message = "This account is being deleted."


class ReportNotReady(NotFound):
    code = "report_not_ready"
    message = (
        "There is no report for this week: a week's report is written once it is over (on "
        "Monday, Asia/Seoul), for a week with at least one scan."
    )


class AccountDeleted(BunriError):
    status_code = 401
    code = "account_deleted"
    message = "This account was deleted; sign up or sign in again."


class NotNullable(BunriError):
    status_code = 422
    code = "not_nullable"
