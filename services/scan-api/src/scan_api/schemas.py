from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from bunri.db.models import ScanStatus


class ScanAccepted(BaseModel):
    scan_id: uuid.UUID
    status: ScanStatus
    status_url: str
    events_url: str


class Alternative(BaseModel):
    middle: str
    confidence: float


class ScanImage(BaseModel):
    url: str
    thumbnail_url: str


class ScanError(BaseModel):
    code: str
    message: str


class ScanOut(BaseModel):
    scan_id: uuid.UUID
    status: ScanStatus
    progress: int = Field(ge=0, le=100)
    note: str | None
    created_at: datetime
    completed_at: datetime | None
    image: ScanImage | None
    result: dict[str, Any] | None = Field(
        description="classification {major, middle, minor, confidence, unsure, alternatives}, "
        "guide {title, steps, cautions, not_accepted, ...}, model {backend, name}"
    )
    error: ScanError | None


class ScanPage(BaseModel):
    items: list[ScanOut]
    next_cursor: str | None


class EventFrame(BaseModel):
    """What each `data:` line of the events stream holds (documentation only)."""

    status: ScanStatus
    progress: int
    scan: ScanOut | None = Field(default=None, description="Only on the terminal event.")
    kind: Literal["progress"] = "progress"
