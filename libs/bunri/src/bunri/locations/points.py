"""A collection point as the importer reads it and as the nearby search answers it."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # the mean radius, as PostGIS's spherical distance uses


@dataclass(frozen=True)
class PointRecord:
    """One row of a source: what an import upserts, keyed by (source, source_id)."""

    source: str
    source_id: str
    kind: str
    name: str
    address: str
    lat: float
    lon: float
    opening_notes: str | None = None


@dataclass(frozen=True)
class NearbyPoint:
    id: str  # ours: the row's UUID; a provider's: "<source>:<its id>"
    source: str
    kind: str
    name: str
    address: str
    lat: float
    lon: float
    opening_notes: str | None
    distance_m: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = math.radians(lat2 - lat1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
