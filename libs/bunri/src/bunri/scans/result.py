"""The `result` of a completed scan: what the AI worker writes and scan-api answers with, one
contract for both (and so the OpenAPI shows it)."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_ALTERNATIVES = 3


class Alternative(BaseModel):
    major: str
    middle: str
    confidence: float = Field(ge=0, le=1)


class Classification(BaseModel):
    major: str = Field(description="대분류, e.g. 재활용폐기물")
    middle: str = Field(description="중분류: the class the disposal guide belongs to")
    minor: str | None = Field(description="소분류, the likeliest item within the middle class")
    confidence: float = Field(ge=0, le=1, description="of the middle class")
    unsure: bool = Field(
        description="Below the model's calibrated confidence: show the alternatives, ask for a "
        "closer photo."
    )
    alternatives: list[Alternative] = Field(max_length=MAX_ALTERNATIVES)


class Guide(BaseModel):
    """How to put it out: Korean, with English beside it (empty where a stored result has none,
    so that every result ever written still reads)."""

    title: str
    title_en: str = ""
    steps: list[str]
    steps_en: list[str] = []
    cautions: list[str]
    cautions_en: list[str] = []
    not_accepted: list[str]
    not_accepted_en: list[str] = []
    locations_url: str | None = Field(
        default=None,
        description="Where to take it: location-api's nearby places for this class (add lat and "
        "lon); null for a class collected at the door.",
    )


class ModelInfo(BaseModel):
    backend: str = Field(description="local, clip, hf or openai")
    name: str


class ScanResult(BaseModel):
    classification: Classification
    guide: Guide
    model: ModelInfo
