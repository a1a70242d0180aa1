"""Coordinate systems of a list of collection points: EPSG codes, guessing one, turning to WGS84.

Korean lists give WGS84 degrees or x/y in a Korean projection (EPSG:5174, 5181, 5186, 5179 and
the other Korean belts); pyproj turns the latter into WGS84.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from bunri.locations.errors import ImportFileError

if TYPE_CHECKING:
    from pyproj import Transformer

# Latitude and longitude of a box around South Korea, its islands included (Marado 33.1 N,
# Baengnyeongdo 124.6 E, Dokdo 131.9 E). Swapped lat/lon or a wrong projection lands outside it.
KOREA_LAT = (33.0, 39.0)
KOREA_LON = (124.0, 132.0)

WGS84 = 4326
# What a file of x/y columns without a CRS may be guessed as. EPSG:5174 (Bessel) and EPSG:5181
# (GRS80) put the same point a few hundred metres apart, so no range tells them apart.
GUESSABLE = (WGS84, 5179, 5186, 5181, 5174)
INSEPARABLE = frozenset({5181, 5174})

_EPSG_CODE = re.compile(r"^(?:epsg:?)?(\d{4,5})$")
_CRS84 = frozenset(
    {"crs84", "ogc:crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84"}
)


class Placed(Protocol):
    """A row's coordinates (lon/easting, lat/northing) and what is wrong with it."""

    x: float | None
    y: float | None
    problems: list[str]


def parse_crs(value: str) -> int:
    """The EPSG code of "EPSG:5186", "5186", "urn:ogc:def:crs:EPSG::5186" or CRS84 (WGS84)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    written = value.strip().lower()
    if written in _CRS84:
        return WGS84
    match = _EPSG_CODE.match(written.replace(" ", ""))
    if match is None and written.startswith("urn:ogc:def:crs:epsg:"):
        match = _EPSG_CODE.match(written.rsplit(":", 1)[-1])
    if match is None:
        raise ImportFileError(f"CRS {value!r} is not an EPSG code such as EPSG:5186")
    code = int(match.group(1))
    try:
        area = CRS.from_epsg(code).area_of_use
    except CRSError:
        raise ImportFileError(f"EPSG:{code} is not a coordinate system pyproj knows") from None
    if area is not None and not (
        area.west <= KOREA_LON[1]
        and area.east >= KOREA_LON[0]
        and area.south <= KOREA_LAT[1]
        and area.north >= KOREA_LAT[0]
    ):
        raise ImportFileError(f"EPSG:{code} ({area.name}) is not used in Korea")
    return code


def in_korea(lon: float, lat: float) -> bool:
    return KOREA_LAT[0] <= lat <= KOREA_LAT[1] and KOREA_LON[0] <= lon <= KOREA_LON[1]


def to_wgs84(rows: Sequence[Placed], crs: int | None) -> None:
    """Turn each row's x/y into lon/lat in place (a row without a CRS keeps its problem)."""
    if crs is None or crs == WGS84:
        return
    placed = [row for row in rows if row.x is not None and row.y is not None]
    if not placed:
        return
    lons, lats = _transformer(crs).transform([row.x for row in placed], [row.y for row in placed])
    for row, lon, lat in zip(placed, lons, lats, strict=True):
        if math.isfinite(lon) and math.isfinite(lat):
            row.x, row.y = lon, lat
        else:
            row.problems.append(f"coordinates ({row.x}, {row.y}) cannot be read in EPSG:{crs}")
            row.x = row.y = None


def _transformer(crs: int) -> Transformer:
    from pyproj import Transformer

    return Transformer.from_crs(crs, WGS84, always_xy=True)


def guess_crs(rows: Sequence[Placed]) -> int | None:
    """The one guessable CRS that puts every point in Korea; `ImportFileError` if not one."""
    points = [(row.x, row.y) for row in rows if row.x is not None and row.y is not None]
    if not points:
        return None
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    # Korea in any TM system is hundreds of kilometres from its false origin, while numbers that
    # could be degrees put the southwest of Korea's box a few hundred metres from the origin.
    in_degrees = all(abs(x) <= 180 and abs(y) <= 90 for x, y in points)
    candidates = [code for code in GUESSABLE if (code == WGS84) == in_degrees]
    inside: dict[int, int] = {}
    for code in candidates:
        if code == WGS84:
            lons, lats = xs, ys
        else:
            lons, lats = _transformer(code).transform(xs, ys)
        inside[code] = sum(
            math.isfinite(lon) and math.isfinite(lat) and in_korea(lon, lat)
            for lon, lat in zip(lons, lats, strict=True)
        )
    fitting = {code for code, count in inside.items() if count == len(points)}
    if fitting & INSEPARABLE:
        fitting |= INSEPARABLE
    if len(fitting) == 1:
        return fitting.pop()
    if fitting:
        alike = ", ".join(f"EPSG:{code}" for code in candidates if code in fitting)
        raise ImportFileError(
            f"the x/y coordinates fit {alike} alike: give the CRS (--crs), e.g. from the "
            "publisher's description of the file"
        )
    best = max(candidates, key=inside.__getitem__)
    raise ImportFileError(
        f"the x/y coordinates fit none of {', '.join(f'EPSG:{c}' for c in candidates)} (the "
        f"closest, EPSG:{best}, puts {inside[best]} of {len(points)} points in Korea): "
        "give the CRS (--crs)"
    )
