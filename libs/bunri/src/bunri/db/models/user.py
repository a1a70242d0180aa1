from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey

if TYPE_CHECKING:
    from bunri.db.models.social_account import SocialAccount


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    # Stored lower-cased; NULL for a social account whose provider shared no e-mail.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    # NULL for accounts that only ever signed in through a social provider.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    nickname: Mapped[str] = mapped_column(String(50))
    # Set when the person asks to leave; the erasure job then removes the row and all it owns.
    deleted_at: Mapped[datetime | None]
    # What the account may do beyond its own data ("admin"); given only by `bunri users`.
    roles: Mapped[list[str]] = mapped_column(JSONDocument, default=list)

    social_accounts: Mapped[list[SocialAccount]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="raise"
    )
