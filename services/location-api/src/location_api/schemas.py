"""location-api's response models."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bunri.locations.kinds import Kind
from bunri.locations.nearby import NearbyAnswer


class KindOut(BaseModel):
    code: str
    name: str
    name_en: str
    middles: list[str] = Field(description="The taxonomy's middle classes whose guides lead here")

    @classmethod
    def of(cls, kind: Kind) -> KindOut:
        return cls(code=kind.code, name=kind.name, name_en=kind.name_en, middles=list(kind.middles))


class KindsOut(BaseModel):
    items: list[KindOut]


class PointOut(BaseModel):
    id: str = Field(description="Ours: a UUID; a live provider's: '<source>:<its id>'")
    source: str = Field(description="Where the point comes from: an imported list, or 'kakao'")
    kind: str
    name: str
    address: str
    lat: float
    lon: float
    opening_notes: str | None
    distance_m: int = Field(description="From the position asked about, in metres")


class NearbyOut(BaseModel):
    items: list[PointOut] = Field(description="Nearest first; empty when nothing is in reach")
    kinds: list[str] = Field(description="The kinds searched for")
    radius_m: int
    partial: bool = Field(
        description="True when our own points were few and the live map provider could not be "
        "asked: the list may miss places"
    )
    stale: bool = Field(description="True when part of it is from a cached answer being renewed")

    @classmethod
    def of(cls, kinds: list[Kind], radius_m: int, answer: NearbyAnswer) -> NearbyOut:
        return cls(
            items=[
                PointOut(
                    id=point.id,
                    source=point.source,
                    kind=point.kind,
                    name=point.name,
                    address=point.address,
                    lat=point.lat,
                    lon=point.lon,
                    opening_notes=point.opening_notes,
                    distance_m=round(point.distance_m),
                )
                for point in answer.points
            ],
            kinds=[kind.code for kind in kinds],
            radius_m=radius_m,
            partial=answer.partial,
            stale=answer.stale,
        )


class ForClassOut(NearbyOut):
    middle: str = Field(description="The taxonomy's middle class asked about")
