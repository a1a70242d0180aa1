"""Reading a public list of collection points (CSV or GeoJSON) into `PointRecord`s; no database.

What a file may hold, and how each column is read, is `docs/locations-import.md`. The layout is
read by `layouts`, coordinates turned into WGS84 by `projections`; here each row is checked and
keyed. A row that cannot be stored as it is, is rejected with its line and the reason; a file that
cannot be read at all raises `ImportFileError`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bunri.locations.errors import ImportFileError
from bunri.locations.kinds import all_kinds
from bunri.locations.layouts import Row, decode, read_csv, read_geojson
from bunri.locations.points import PointRecord
from bunri.locations.projections import WGS84, guess_crs, in_korea, parse_crs, to_wgs84
from bunri.web.text import text_problem

# The `collection_points` columns' lengths (a test holds them equal to the model).
LIMITS = {"source": 64, "source_id": 128, "kind": 32, "name": 200, "address": 300}
NOTES_LIMIT = 500

# Projected coordinates are rounded to 1e-7 degree (about 1 cm), so that importing the same file
# with another PROJ release does not report every point as moved by a billionth of a degree.
PROJECTED_DIGITS = 7
DERIVED_ID_PREFIX = "sha256:"
DERIVED_ID_HEX = 32

# Words in a kind column, each naming one kind; a value naming two kinds is refused.
KIND_WORDS = (
    ("전지", "battery"),
    ("형광등", "lamp"),
    ("의류", "clothes"),
    ("헌옷", "clothes"),
    ("의약품", "medicine"),
    ("폐약", "medicine"),
    ("가전", "small_appliance"),
    ("재활용센터", "recycling_centre"),
    ("재활용센타", "recycling_centre"),
)


@dataclass(frozen=True)
class RejectedRow:
    line: int  # CSV: the file's line (the header is 1); GeoJSON: the feature's 1-based index
    reason: str


@dataclass
class ParseResult:
    records: list[PointRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    layout: str = "csv"  # "csv" or "geojson": whether `RejectedRow.line` is a line or a feature
    crs: int | None = None  # the EPSG code the coordinates were read in
    crs_guessed: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # field -> the header it was read from
    derived_ids: int = 0  # records whose source_id was derived (`derived_source_id`)


def parse_file(
    path: Path, *, source: str, kind: str | None = None, crs: str | None = None
) -> ParseResult:
    """Read a CSV or GeoJSON list of collection points.

    `kind` gives every row that kind (the file's kind column is then not read); `crs` the EPSG
    code of the file's x/y coordinates ("EPSG:5186" or "5186"). Raises `ImportFileError` when the
    file, `source`, `kind` or `crs` cannot be used at all.
    """
    source = _checked_source(source)
    if kind is not None and kind not in all_kinds():
        raise ImportFileError(f"kind {kind!r} is not one of: {', '.join(all_kinds())}")
    epsg = None if crs is None else parse_crs(crs)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = decode(data)
    read = read_geojson if text.lstrip().startswith("{") else read_csv
    table = read(text, kind=kind, crs=epsg)
    result = ParseResult(layout=table.layout, columns=table.columns)
    _finish(result, table.rows, source=source, kind=kind, crs=table.crs, projected=table.projected)
    return result


# From rows to records: projection, checks, ids.


def _finish(
    result: ParseResult,
    rows: list[Row],
    *,
    source: str,
    kind: str | None,
    crs: int | None,
    projected: bool,
) -> None:
    """Project, check and key the rows into `result`. `projected`: read from x/y, not lat/lon."""
    if projected and crs is None:
        crs = guess_crs(rows)
        result.crs_guessed = crs is not None
    result.crs = crs if projected else WGS84
    to_wgs84(rows, result.crs)
    first_line: dict[str, int] = {}
    for row in rows:
        record = _record(row, source=source, kind=kind, projected=projected and crs != WGS84)
        if record is None:
            result.rejected.append(RejectedRow(row.line, "; ".join(row.problems)))
            continue
        if record.source_id in first_line:
            duplicate = (
                f"duplicate source_id {record.source_id!r} "
                f"(first at {'line' if result.layout == 'csv' else 'feature'} "
                f"{first_line[record.source_id]})"
            )
            result.rejected.append(RejectedRow(row.line, duplicate))
            continue
        first_line[record.source_id] = row.line
        result.records.append(record)
        result.derived_ids += "source_id" not in row.values


def _record(row: Row, *, source: str, kind: str | None, projected: bool) -> PointRecord | None:
    values = row.values
    problems = row.problems
    name = values.get("name", "")
    if not name:
        problems.append("missing name")
    point_kind = kind
    if point_kind is None:
        point_kind = _kind_of(values.get("kind"), problems)
    lon, lat = row.x, row.y
    if lon is not None and lat is not None:
        if projected:
            lon, lat = round(lon, PROJECTED_DIGITS), round(lat, PROJECTED_DIGITS)
        if not in_korea(lon, lat):
            swapped = ": latitude and longitude swapped?" if in_korea(lat, lon) else ""
            problems.append(f"outside Korea (lat {lat:.5f}, lon {lon:.5f}{swapped})")
    for field_name in ("source_id", "name", "address", "opening_notes"):
        value = values.get(field_name)
        if value is None:
            continue
        problem = text_problem(value, multiline=field_name == "opening_notes")
        if problem is not None:
            problems.append(f"{field_name} {problem}")
        limit = LIMITS.get(field_name, NOTES_LIMIT)
        if len(value) > limit:
            problems.append(f"{field_name} too long ({len(value)} characters, at most {limit})")
    if problems or point_kind is None or lon is None or lat is None:
        return None
    address = values.get("address", "")
    source_id = values.get("source_id") or derived_source_id(point_kind, name, address, lat, lon)
    return PointRecord(
        source=source,
        source_id=source_id,
        kind=point_kind,
        name=name,
        address=address,
        lat=lat,
        lon=lon,
        opening_notes=values.get("opening_notes"),
    )


def derived_source_id(kind: str, name: str, address: str, lat: float, lon: float) -> str:
    """A stable id for a row its publisher gave none: the same point, the same id next year.

    The kind is part of it because one place often has a box of each kind under the same name.
    """
    key = "\x1f".join((kind, name, address, f"{lat:.5f}", f"{lon:.5f}"))
    return DERIVED_ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:DERIVED_ID_HEX]


def _kind_of(value: str | None, problems: list[str]) -> str | None:
    if not value:
        problems.append("missing kind")
        return None
    written = "".join(unicodedata.normalize("NFC", value).lower().split())
    for code, known in all_kinds().items():
        if written in (code, "".join(known.name.split()), "".join(known.name_en.lower().split())):
            return code
    named = list(dict.fromkeys(code for word, code in KIND_WORDS if word in written))
    if len(named) == 1:
        return named[0]
    if named:
        problems.append(f"kind {value[:40]!r} names more than one kind ({', '.join(named)})")
    else:
        problems.append(f"unknown kind {value[:40]!r}")
    return None


def _checked_source(source: str) -> str:
    source = source.strip()
    if not source:
        raise ImportFileError("the source name is empty")
    problem = text_problem(source, multiline=False)
    if problem is not None:
        raise ImportFileError(f"the source name {problem}")
    if len(source) > LIMITS["source"]:
        raise ImportFileError(f"the source name is longer than {LIMITS['source']} characters")
    return source


def rejected_lines(result: ParseResult) -> Iterator[str]:
    """Each rejected row as "line N: reason" (GeoJSON: "feature N: reason")."""
    unit = "line" if result.layout == "csv" else "feature"
    for rejected in result.rejected:
        yield f"{unit} {rejected.line}: {rejected.reason}"
