from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey


class OutboxMessage(UUIDPrimaryKey, Timestamps, Base):
    """A message for the relay to publish, then delete: a task message that could not be
    published when its transaction committed, or a domain event, always written here in the
    transaction of the change it tells of (a transactional outbox)."""

    __tablename__ = "outbox_messages"

    task_id: Mapped[str] = mapped_column(String(255))
    task_name: Mapped[str] = mapped_column(String(255))
    exchange: Mapped[str] = mapped_column(String(64), server_default="bunri.tasks")
    routing_key: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int]
    headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(64), server_default="application/json")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
