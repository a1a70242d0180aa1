"""The grid that nearby answers are cached on.

A search is answered from the entry of the cell it falls in, built for the cell's centre with a
reach wide enough for any point of the cell: so neighbours share one entry, and the exact
distances are then worked out from the person's own position.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from bunri.locations.points import haversine_m

CELL_DEGREES = 0.01  # about 1.1 km north-south and 0.9 km east-west in Korea
# From a cell's centre to its farthest corner, with room to spare (0.005° of latitude is 556 m).
CELL_HALF_DIAGONAL_M = 800
RADIUS_BUCKETS_M = (500, 1_000, 2_000, 5_000, 10_000)
MAX_RADIUS_M = RADIUS_BUCKETS_M[-1]


@dataclass(frozen=True)
class Cell:
    row: int
    column: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.row + 0.5) * CELL_DEGREES, (self.column + 0.5) * CELL_DEGREES

    @property
    def key(self) -> str:
        return f"{self.row}:{self.column}"


def cell_of(lat: float, lon: float) -> Cell:
    return Cell(math.floor(lat / CELL_DEGREES), math.floor(lon / CELL_DEGREES))


def bucket_for(radius_m: int) -> int:
    """The cached radius that covers `radius_m`: answers for 700 m and 900 m share one entry."""
    for bucket in RADIUS_BUCKETS_M:
        if radius_m <= bucket:
            return bucket
    raise ValueError(f"radius {radius_m} m is over {MAX_RADIUS_M} m")


def reach_m(bucket: int) -> int:
    """How far from its cell's centre an entry holds points."""
    return bucket + CELL_HALF_DIAGONAL_M


def cells_reaching(lat: float, lon: float, bucket: int) -> Iterator[Cell]:
    """The cells whose entries for `bucket` can hold a point at (lat, lon)."""
    reach = reach_m(bucket)
    rows = reach / 111_000 / CELL_DEGREES + 1
    columns = rows / max(math.cos(math.radians(lat)), 0.1)
    home = cell_of(lat, lon)
    for row in range(home.row - math.ceil(rows), home.row + math.ceil(rows) + 1):
        for column in range(home.column - math.ceil(columns), home.column + math.ceil(columns) + 1):
            cell = Cell(row, column)
            if haversine_m(lat, lon, *cell.centre) <= reach:
                yield cell
