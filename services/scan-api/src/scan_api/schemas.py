from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from bunri.db.models import ScanFeedback, ScanStatus
from bunri.db.models.scan_feedback import CLASS_NAME_LENGTH
from bunri.scans.result import ScanResult
from bunri.web.pagination import Page
from bunri.web.text import MultilineText, PlainText

MAX_FEEDBACK_NOTE_CHARS = 500


class ScanAccepted(BaseModel):
    scan_id: uuid.UUID
    status: ScanStatus
    status_url: str
    events_url: str


class ScanImage(BaseModel):
    url: str
    thumbnail_url: str


class ScanError(BaseModel):
    code: str
    message: str


def _class_name(name: str) -> str:
    # Hangul typed on some systems arrives decomposed (NFD): the taxonomy's names are NFC.
    return unicodedata.normalize("NFC", name).strip()


ClassName = Annotated[
    PlainText, Field(min_length=1, max_length=CLASS_NAME_LENGTH), AfterValidator(_class_name)
]


class FeedbackClass(BaseModel):
    """A class of the taxonomy (GET /api/v1/guides): major and middle, and a minor optionally."""

    major: ClassName
    middle: ClassName
    minor: ClassName | None = None


class FeedbackIn(BaseModel):
    correct: FeedbackClass = Field(description="What the photo really shows.")
    note: MultilineText | None = Field(default=None, max_length=MAX_FEEDBACK_NOTE_CHARS)


class PredictedClass(BaseModel):
    """The model's answer that the feedback corrects or confirms."""

    major: str | None
    middle: str | None
    minor: str | None
    confidence: float | None
    unsure: bool | None


class FeedbackOut(BaseModel):
    scan_id: uuid.UUID
    correct: FeedbackClass
    predicted: PredictedClass
    agrees: bool = Field(description="Whether the model had the middle class right.")
    note: str | None
    created_at: datetime
    updated_at: datetime = Field(description="When the feedback was last given.")

    @classmethod
    def of(cls, feedback: ScanFeedback) -> FeedbackOut:
        return cls(
            scan_id=feedback.scan_id,
            correct=FeedbackClass(
                major=feedback.correct_major,
                middle=feedback.correct_middle,
                minor=feedback.correct_minor,
            ),
            predicted=PredictedClass(
                major=feedback.predicted_major,
                middle=feedback.predicted_middle,
                minor=feedback.predicted_minor,
                confidence=feedback.predicted_confidence,
                unsure=feedback.predicted_unsure,
            ),
            agrees=feedback.agrees,
            note=feedback.note,
            created_at=feedback.created_at,
            updated_at=feedback.updated_at,
        )


class ScanOut(BaseModel):
    scan_id: uuid.UUID
    status: ScanStatus
    progress: int = Field(ge=0, le=100)
    note: str | None
    created_at: datetime
    completed_at: datetime | None
    image: ScanImage | None
    result: ScanResult | None = Field(description="Once the scan is completed.")
    error: ScanError | None
    feedback: FeedbackOut | None = Field(
        description="The owner's feedback on the answer (PUT /api/v1/scans/{id}/feedback), or null."
    )


class ScanPage(Page[ScanOut]):
    """The caller's scans, newest first."""


class ScanEventFrame(BaseModel):
    """What the `data:` line of each event on GET /api/v1/scans/{id}/events holds."""

    status: ScanStatus
    progress: int = Field(ge=0, le=100)
    scan: ScanOut | None = Field(
        default=None,
        description="The whole scan, on the terminal event only (completed or failed).",
    )
