"""What my-api reads and answers, as OpenAPI documents it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bunri.db.models import PhotoStatus
from bunri.web.text import PLAIN_TEXT, PlainText

Language = Literal["ko", "en"]
# Surrounding whitespace is trimmed first (a line break typed after the name is no control
# character to refuse); what is left has no control character (bunri.web.text), and the rest of
# what a nickname may be is my_api.nicknames' (`invalid_nickname`).
NicknameText = Annotated[str, StringConstraints(strip_whitespace=True), PLAIN_TEXT]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and no type is coerced ("1" is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NamedRegion(BaseModel):
    code: str
    name: str
    name_en: str


class RegionOut(BaseModel):
    province: NamedRegion
    district: NamedRegion | None


class Notifications(BaseModel):
    weekly_report: bool
    character: bool
    marketing: bool


class PhotoOut(BaseModel):
    status: PhotoStatus
    url: str | None = Field(description="The 512 px square; served through a redirect.")
    thumbnail_url: str | None = Field(description="The 96 px square.")
    error: str | None = Field(description="Why the last upload failed (status `failed`).")


class ProfileOut(BaseModel):
    user_id: uuid.UUID
    email: str | None
    nickname: str
    region: RegionOut | None
    language: Language
    notifications: Notifications
    photo: PhotoOut
    version: int = Field(description="Also the ETag, quoted; PATCH sends it back as If-Match.")
    updated_at: datetime


class RegionIn(Strict):
    province: PlainText = Field(
        min_length=2, max_length=2, description="시·도 code, e.g. 11 (Seoul)"
    )
    district: PlainText | None = Field(
        default=None, min_length=5, max_length=5, description="시·군·구 code, e.g. 11680"
    )


class NotificationsPatch(Strict):
    weekly_report: bool | None = None
    character: bool | None = None
    marketing: bool | None = None


class ProfilePatch(Strict):
    """A JSON merge patch (RFC 7396): absent fields stay as they are; `region: null` clears it."""

    nickname: NicknameText | None = Field(default=None, max_length=200)
    region: RegionIn | None = None
    language: Language | None = None
    notifications: NotificationsPatch | None = None


class AccountDeletion(Strict):
    password: str | None = Field(
        default=None,
        max_length=128,
        description="The account's password; an account without one (social sign-in only) "
        "must have signed in within the last 5 minutes instead.",
    )


class DeletionAccepted(BaseModel):
    status: Literal["erasing"]
    message: str
