"""Queries my-api runs on profiles; no commits here (the caller's boundary commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bunri.db.base import utcnow
from bunri.db.models import PhotoStatus, Profile, User
from bunri.db.upsert import upsert_insert

_PROFILE_ROW = select(
    Profile.user_id,
    Profile.version,
    Profile.province_code,
    Profile.district_code,
    Profile.language,
    Profile.notify_weekly_report,
    Profile.notify_character,
    Profile.notify_marketing,
    Profile.photo_status,
    Profile.photo_upload,
    Profile.photo_key,
    Profile.photo_thumbnail_key,
    Profile.photo_error,
    Profile.updated_at,
    User.email,
    User.nickname,
).join(User, User.id == Profile.user_id)


async def ensure_profile(connection: AsyncConnection, user_id: uuid.UUID) -> None:
    """Create the person's profile with the defaults unless it exists (one statement: two first
    reads at once make one row); none for an account that is gone or going."""
    now = literal(utcnow(), type_=Profile.created_at.type)
    account = select(User.id, now, now, *(literal(value) for value in _DEFAULTS.values())).where(
        User.id == user_id, User.deleted_at.is_(None)
    )
    await connection.execute(
        upsert_insert(connection, Profile)
        .from_select(["user_id", "created_at", "updated_at", *_DEFAULTS], account)
        .on_conflict_do_nothing(index_elements=[Profile.user_id])
    )


_DEFAULTS: dict[str, Any] = {
    "version": 1,
    "language": "ko",
    "notify_weekly_report": True,
    "notify_character": True,
    "notify_marketing": False,
    "photo_status": PhotoStatus.NONE.value,
    "photo_upload": 0,
}


async def load_profile(connection: AsyncConnection, user_id: uuid.UUID) -> Any:
    """The profile with the account's e-mail and nickname; None for an account being deleted."""
    return (
        await connection.execute(
            _PROFILE_ROW.where(Profile.user_id == user_id, User.deleted_at.is_(None))
        )
    ).first()


_MAX_VERSION = 2**31 - 1


async def update_profile_if_version(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    versions: Sequence[int],
    values: dict[str, Any],
) -> int | None:
    """Apply `values` and move the version on, if the profile is at one of `versions`: the new
    version, or None (it was not; nothing changed)."""
    # The column is a 32-bit integer: a larger version (If-Match allows 18 digits) matches no
    # profile, and the driver would refuse to send it (a 500 instead of the 412 it is).
    possible = [version for version in versions if version <= _MAX_VERSION]
    return (
        await connection.execute(
            update(Profile)
            .where(Profile.user_id == user_id, Profile.version.in_(possible))
            .values(**values, version=Profile.version + 1, updated_at=utcnow())
            .returning(Profile.version)
        )
    ).scalar_one_or_none()


async def update_profile(
    connection: AsyncConnection, user_id: uuid.UUID, values: dict[str, Any]
) -> Any:
    """Apply `values` whatever the version, moving it on: (version, photo_upload)."""
    return (
        await connection.execute(
            update(Profile)
            .where(Profile.user_id == user_id)
            .values(**values, version=Profile.version + 1, updated_at=utcnow())
            .returning(Profile.version, Profile.photo_upload)
        )
    ).first()


async def set_nickname(connection: AsyncConnection, user_id: uuid.UUID, nickname: str) -> None:
    await connection.execute(
        update(User).where(User.id == user_id).values(nickname=nickname, updated_at=utcnow())
    )


def next_photo_upload() -> Any:
    """The value of `photo_upload` for a new upload (or removal): one more, in the statement."""
    return Profile.photo_upload + 1
