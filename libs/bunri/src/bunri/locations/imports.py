"""Writing parsed collection points into `collection_points`: an upsert by (source, source_id).

Importing the same list twice changes nothing (not even `updated_at`): a row is written only
where one of its columns differs. What was written is reported with the places it touched,
before and after, so that the nearby cache can forget the answers around them. The caller owns
the transaction: one file is one transaction, never a part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Float, String, Uuid

from bunri.db.base import utcnow
from bunri.ids import uuid7
from bunri.locations.points import PointRecord

# Rows per statement: each column travels as one array parameter, whatever the count; a batch
# bounds the size of one statement and of its RETURNING.
BATCH_SIZE = 5000
# Imports of one source take turns (the two-key advisory lock space is apart from the
# migrations' one-key lock), so that what a batch reads as "before" is what it overwrites.
_LOCK_CLASS = 0x42554E52  # "BUNR"

_LOCK = text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:source))")
_BEFORE = text(
    """
    SELECT source_id, kind, ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lon
    FROM collection_points
    WHERE source = :source AND source_id = ANY(:source_ids)
    """
).bindparams(bindparam("source_ids", type_=ARRAY(String())))
# Written only where a column differs, so that importing the same list again changes no row,
# `updated_at` included; RETURNING then names exactly the rows inserted or changed.
_UPSERT = text(
    """
    INSERT INTO collection_points AS point
        (id, source, source_id, kind, name, address, opening_notes, location, updated_at)
    SELECT row.id, :source, row.source_id, row.kind, row.name, row.address, row.opening_notes,
           ST_SetSRID(ST_MakePoint(row.lon, row.lat), 4326)::geography, :now
    FROM unnest(:ids, :source_ids, :kinds, :names, :addresses, :notes, :lons, :lats)
        AS row(id, source_id, kind, name, address, opening_notes, lon, lat)
    ON CONFLICT (source, source_id) DO UPDATE SET
        kind = excluded.kind,
        name = excluded.name,
        address = excluded.address,
        opening_notes = excluded.opening_notes,
        location = excluded.location,
        updated_at = excluded.updated_at
    WHERE (point.kind, point.name, point.address, point.opening_notes,
           ST_X(point.location::geometry), ST_Y(point.location::geometry))
        IS DISTINCT FROM
          (excluded.kind, excluded.name, excluded.address, excluded.opening_notes,
           ST_X(excluded.location::geometry), ST_Y(excluded.location::geometry))
    RETURNING point.source_id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid())),
    *(
        bindparam(name, type_=ARRAY(String()))
        for name in ("source_ids", "kinds", "names", "addresses", "notes")
    ),
    bindparam("lons", type_=ARRAY(Float())),
    bindparam("lats", type_=ARRAY(Float())),
)


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # (kind, lat, lon) of every point written: a changed one both where it was and where it is.
    touched: list[tuple[str, float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Before:
    kind: str
    lat: float
    lon: float


def import_points(connection: Connection | Session, records: Sequence[PointRecord]) -> ImportReport:
    """Insert the new points, update the changed ones, leave the rest; commits nothing.

    PostgreSQL with PostGIS only (`bunri.locations.schema.has_collection_points`). A source_id
    given twice for one source is a `ValueError`: which of the two should win is not ours to say.
    """
    _refuse_duplicates(records)
    report = ImportReport()
    touched: dict[tuple[str, float, float], None] = {}
    by_source: dict[str, list[PointRecord]] = {}
    for record in records:
        by_source.setdefault(record.source, []).append(record)
    # Sorted, so that two imports naming the same sources lock them in the same order.
    for source in sorted(by_source):
        connection.execute(_LOCK, {"lock_class": _LOCK_CLASS, "source": source})
        points = by_source[source]
        for start in range(0, len(points), BATCH_SIZE):
            batch = points[start : start + BATCH_SIZE]
            before = _read_before(connection, source, [record.source_id for record in batch])
            written = set(connection.scalars(_UPSERT, _columns(source, batch)))
            for record in batch:
                if record.source_id not in written:
                    report.unchanged += 1
                    continue
                touched[(record.kind, record.lat, record.lon)] = None
                old = before.get(record.source_id)
                if old is None:
                    report.inserted += 1
                else:
                    report.updated += 1
                    touched[(old.kind, old.lat, old.lon)] = None
    report.touched = list(touched)
    return report


def _refuse_duplicates(records: Sequence[PointRecord]) -> None:
    seen: set[tuple[str, str]] = set()
    for record in records:
        key = (record.source, record.source_id)
        if key in seen:
            raise ValueError(f"source_id {record.source_id!r} of {record.source!r} given twice")
        seen.add(key)


def _read_before(
    connection: Connection | Session, source: str, source_ids: list[str]
) -> dict[str, _Before]:
    rows = connection.execute(_BEFORE, {"source": source, "source_ids": source_ids})
    return {row.source_id: _Before(row.kind, row.lat, row.lon) for row in rows}


def _columns(source: str, batch: Sequence[PointRecord]) -> dict[str, object]:
    return {
        "source": source,
        "now": utcnow(),
        "ids": [uuid7() for _ in batch],
        "source_ids": [record.source_id for record in batch],
        "kinds": [record.kind for record in batch],
        "names": [record.name for record in batch],
        "addresses": [record.address for record in batch],
        "notes": [record.opening_notes for record in batch],
        "lons": [record.lon for record in batch],
        "lats": [record.lat for record in batch],
    }
