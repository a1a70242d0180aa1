"""The profile: read through the cache, changed only by compare-and-set on its version, and its
photo handed to the storage worker.

Writes are Core statements on one connection, committed here: the cache learns of a write only
after its commit (its new representation, stored by a script that never moves the cache back).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bunri.db.models import PhotoStatus
from bunri.images import inspect_upload
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable
from bunri.messaging.outbox import keep_in_outbox
from bunri.messaging.protocol import TaskCall
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import STORE_PROFILE_PHOTO
from bunri.regions import RegionCatalog
from bunri.storage import profile_photo_upload
from my_api import repository
from my_api.cache import ResilientProfileCache
from my_api.errors import (
    AccountDeleted,
    NothingToChange,
    NotNullable,
    PhotoNotFound,
    VersionConflict,
)
from my_api.nicknames import check_nickname
from my_api.schemas import ProfileOut, ProfilePatch
from my_api.settings import MyApiSettings

log = get_logger(__name__)

MY_PATH = "/api/v1/my"
PHOTO_PATH = f"{MY_PATH}/profile/photo"


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class ProfileView:
    """A profile as served: its version (the ETag) and its JSON."""

    version: int
    body: bytes

    @property
    def etag(self) -> str:
        return etag(self.version)


def profile_document(row: Row[Any], regions: RegionCatalog) -> dict[str, Any]:
    region = None
    if row.province_code is not None:
        province = regions.province(row.province_code)
        district = regions.district(row.district_code) if row.district_code else None
        region = {
            "province": _named(province, row.province_code),
            "district": None if row.district_code is None else _named(district, row.district_code),
        }
    # The shown photo's upload names its URLs (a new photo, a new URL for caches to fetch).
    shown = None if row.photo_key is None else profile_photo_upload(row.photo_key)
    return {
        "user_id": row.user_id,
        "email": row.email,
        "nickname": row.nickname,
        "region": region,
        "language": row.language,
        "notifications": {
            "weekly_report": row.notify_weekly_report,
            "character": row.notify_character,
            "marketing": row.notify_marketing,
        },
        "photo": {
            "status": row.photo_status,
            "url": None if row.photo_key is None else f"{PHOTO_PATH}?v={shown}",
            "thumbnail_url": None if row.photo_key is None else f"{PHOTO_PATH}/thumbnail?v={shown}",
            "error": row.photo_error,
        },
        "version": row.version,
        "updated_at": row.updated_at,
    }


def _named(found: Any, code: str) -> dict[str, str]:
    # A code the shipped list no longer has (a district merged away) still shows as its code.
    if found is None:
        return {"code": code, "name": code, "name_en": code}
    return {"code": found.code, "name": found.name, "name_en": found.name_en}


def patch_values(patch: ProfilePatch, regions: RegionCatalog) -> tuple[dict[str, Any], str | None]:
    """The profile columns a patch sets, and the new nickname (None: unchanged)."""
    given = patch.model_fields_set
    if not given:
        raise NothingToChange()
    values: dict[str, Any] = {}
    nickname = None
    if "nickname" in given:
        if patch.nickname is None:
            raise NotNullable("The nickname cannot be removed, only changed.")
        nickname = check_nickname(patch.nickname)
    if "region" in given:
        if patch.region is None:
            values |= {"province_code": None, "district_code": None}
        else:
            regions.check_region(patch.region.province, patch.region.district)
            values |= {
                "province_code": patch.region.province,
                "district_code": patch.region.district,
            }
    if "language" in given:
        if patch.language is None:
            raise NotNullable("The language cannot be removed, only changed (ko or en).")
        values["language"] = patch.language
    if "notifications" in given:
        if patch.notifications is None:
            raise NotNullable("Notifications cannot be removed; set each one true or false.")
        chosen = patch.notifications
        for name in chosen.model_fields_set:
            value = getattr(chosen, name)
            if value is None:
                raise NotNullable(f"notifications.{name} must be true or false, not null.")
            values[f"notify_{name}"] = value
    return values, nickname


class ProfileService:
    def __init__(
        self,
        settings: MyApiSettings,
        engine: AsyncEngine,
        cache: ResilientProfileCache,
        publisher: Publisher,
        regions: RegionCatalog,
    ) -> None:
        self._settings = settings
        self.engine = engine
        self._cache = cache
        self._publisher = publisher
        self._regions = regions

    async def read(self, user_id: uuid.UUID) -> ProfileView:
        cached = await self._cache.get(user_id)
        if cached is not None:
            return ProfileView(*cached)
        async with self.engine.connect() as connection:
            row = await repository.load_profile(connection, user_id)
            if row is None:
                await repository.ensure_profile(connection, user_id)
                await connection.commit()
                row = await repository.load_profile(connection, user_id)
            if row is None:
                raise AccountDeleted()
        view = self._view(row)
        await self._cache.fill(user_id, view.version, view.body)
        return view

    async def update(
        self, user_id: uuid.UUID, if_match: Sequence[int], patch: ProfilePatch
    ) -> ProfileView:
        """The profile after `patch`, if it is at one of the `if_match` versions; otherwise
        VersionConflict with the profile as it is."""
        values, nickname = patch_values(patch, self._regions)
        async with self.engine.connect() as connection:
            await repository.ensure_profile(connection, user_id)
            version = await repository.update_profile_if_version(
                connection, user_id, if_match, values
            )
            if version is None:
                current = await self._load(connection, user_id)
                await connection.rollback()
                raise VersionConflict(json.loads(current.body), current.etag)
            if nickname is not None:
                await repository.set_nickname(connection, user_id, nickname)
            view = await self._load(connection, user_id)
            await connection.commit()
        await self._written(user_id, view)
        return view

    async def accept_photo(self, user_id: uuid.UUID, image: bytes) -> ProfileView:
        """Mark a new photo as processing and hand it to the storage worker (or to the outbox,
        in the same transaction, when the broker is away)."""
        inspect_upload(
            image,
            max_bytes=self._settings.max_image_bytes,
            max_pixels=self._settings.max_image_pixels,
        )
        async with self.engine.connect() as connection:
            await repository.ensure_profile(connection, user_id)
            view = await self._next_photo(
                connection,
                user_id,
                {"photo_status": PhotoStatus.PROCESSING},
                image=image,
            )
        await self._written(user_id, view)
        return view

    async def remove_photo(self, user_id: uuid.UUID) -> ProfileView:
        """No photo from now on; the storage worker deletes the objects of every earlier upload."""
        async with self.engine.connect() as connection:
            current = await repository.load_profile(connection, user_id)
            if current is None or (
                current.photo_key is None and current.photo_status is not PhotoStatus.PROCESSING
            ):
                raise PhotoNotFound()
            view = await self._next_photo(
                connection,
                user_id,
                {"photo_status": PhotoStatus.NONE, "photo_key": None, "photo_thumbnail_key": None},
                image=None,
            )
        await self._written(user_id, view)
        return view

    async def _next_photo(
        self,
        connection: AsyncConnection,
        user_id: uuid.UUID,
        values: dict[str, Any],
        *,
        image: bytes | None,
    ) -> ProfileView:
        """A new upload (a photo, or its removal when `image` is None) made the profile's, its
        task handed to the storage worker in the same transaction; committed."""
        changed = await repository.update_profile(
            connection,
            user_id,
            values | {"photo_upload": repository.next_photo_upload(), "photo_error": None},
        )
        if changed is None:
            raise AccountDeleted()
        upload = changed.photo_upload
        # A rolled-back request leaves its number to the next upload: the unit of work is the
        # number and a token of this request, so the next one is not taken for a duplicate.
        call = TaskCall(
            STORE_PROFILE_PHOTO,
            user_id,
            {"upload": upload, "image": image},
            unit=f"{upload}.{secrets.token_hex(4)}",
        )
        await self._send(connection, call)
        view = await self._load(connection, user_id)
        await connection.commit()
        return view

    async def photo_key(self, user_id: uuid.UUID, *, thumbnail: bool) -> str:
        async with self.engine.connect() as connection:
            row = await repository.load_profile(connection, user_id)
        key = None if row is None else row.photo_thumbnail_key if thumbnail else row.photo_key
        if key is None:
            raise PhotoNotFound()
        return str(key)

    async def _send(self, connection: AsyncConnection, call: TaskCall) -> None:
        message = call.message(self._settings.profile_photo_priority)
        try:
            await self._publisher.publish(message)
        except BrokerUnavailable as exc:
            log.warning("broker unavailable; photo task kept in the outbox", error=repr(exc))
            await keep_in_outbox(connection, message)

    async def _load(self, connection: AsyncConnection, user_id: uuid.UUID) -> ProfileView:
        row = await repository.load_profile(connection, user_id)
        if row is None:
            raise AccountDeleted()
        return self._view(row)

    def _view(self, row: Row[Any]) -> ProfileView:
        document = ProfileOut.model_validate(profile_document(row, self._regions))
        return ProfileView(row.version, document.model_dump_json().encode())

    async def _written(self, user_id: uuid.UUID, view: ProfileView) -> None:
        await self._cache.written(user_id, view.version, view.body)
