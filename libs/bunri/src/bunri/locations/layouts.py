"""Reading a list of collection points' text into rows: the CSV layout and the GeoJSON layout.

Bytes become text (UTF-8, UTF-16 or CP949), headers or property names become fields
(`HEADERS`), and each row or feature becomes a `Row` with its coordinates as written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bunri.locations.errors import ImportFileError
from bunri.locations.projections import WGS84, parse_crs

# Headers (and GeoJSON property names) of each field, most preferred first, compared without
# spaces, case or a parenthesised suffix ("위도(WGS84)" is 위도).
HEADERS: Mapping[str, tuple[str, ...]] = {
    "source_id": ("source_id", "관리번호", "연번", "번호"),
    "name": ("name", "설치장소명", "시설명", "명칭", "장소명", "설치장소", "수거함명"),
    "address": (
        "address",
        "소재지도로명주소",
        "도로명주소",
        "소재지지번주소",
        "지번주소",
        "주소",
        "소재지",
    ),
    "kind": ("kind", "수거함종류", "수거함구분", "구분"),
    "lat": ("lat", "latitude", "위도"),
    "lon": ("lon", "lng", "longitude", "경도"),
    "x": ("x", "x좌표", "좌표x", "좌표정보x"),
    "y": ("y", "y좌표", "좌표y", "좌표정보y"),
    "opening_notes": ("opening_notes", "운영시간", "비고"),
}
# Fields taken, row by row, from the first of their columns that has a value (a row without a
# 도로명 address keeps its 지번 one). The others come from their first column only: an id read
# from 관리번호 on one row and from 연번 on the next would not be the same kind of id.
FALLBACK_FIELDS = frozenset({"name", "address", "opening_notes"})

_PARENTHESISED = re.compile(r"[(\[].*?[)\]]")
_BRACKETS = re.compile(r"[()\[\]]")
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"


@dataclass
class Row:
    """A row before its coordinates are projected: its fields, or what is wrong with it."""

    line: int
    values: dict[str, str]
    x: float | None = None  # lon or easting
    y: float | None = None  # lat or northing
    problems: list[str] = field(default_factory=list)


@dataclass
class Table:
    """A file's rows as its layout gave them, before projection and checks."""

    layout: str  # "csv" or "geojson"
    rows: list[Row]
    columns: dict[str, str]  # field -> the header it was read from
    crs: int | None  # the EPSG code the coordinates are in, None if to be guessed
    projected: bool  # read from x/y, not lat/lon


def decode(data: bytes) -> str:
    if data.startswith((_ZIP, _OLE)):
        raise ImportFileError("the file is a spreadsheet workbook: save it as CSV (UTF-8) first")
    if not data.strip():
        raise ImportFileError("the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    elif data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        # CP949 is EUC-KR and the rest of Hangul: what data.go.kr's files mostly are.
        encodings = ("utf-8", "cp949")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise ImportFileError("the file is not text in UTF-8, UTF-16 or CP949 (EUC-KR)")


def _header_keys(header: str) -> tuple[str, str]:
    """A header as compared: whole, then without a parenthesised suffix."""
    plain = "".join(unicodedata.normalize("NFC", header).lower().split()).lstrip("\ufeff")
    return _BRACKETS.sub("", plain), _PARENTHESISED.sub("", plain)


def _fields_of(headers: Sequence[str]) -> dict[str, list[int]]:
    """For each field, the positions of its columns, most preferred first."""
    positions: dict[str, list[int]] = {}
    keys = [_header_keys(header) for header in headers]
    for name, synonyms in HEADERS.items():
        for synonym in synonyms:
            for position, (whole, short) in enumerate(keys):
                if synonym in (whole, short) and position not in positions.get(name, []):
                    positions.setdefault(name, []).append(position)
    return positions


def _fields_to_read(
    positions: Mapping[str, list[int]], found: Sequence[str], *, kind: str | None, layout: str
) -> set[str]:
    """The fields besides coordinates to read; `ImportFileError` when the columns cannot do."""
    if "name" not in positions:
        listed = ", ".join(repr(name) for name in found) or "none"
        raise ImportFileError(
            f"no name {layout} among ({listed}): expected one of {', '.join(HEADERS['name'])}"
        )
    if kind is None and "kind" not in positions:
        raise ImportFileError(
            f"no kind {layout} ({', '.join(HEADERS['kind'])}): give the kind of every row"
        )
    use = {"source_id", "name", "address", "opening_notes"} & positions.keys()
    if kind is None:
        use.add("kind")
    return use


def _values(
    cells: Sequence[str], positions: Mapping[str, list[int]], use: Iterable[str]
) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in use:
        columns = positions[name] if name in FALLBACK_FIELDS else positions[name][:1]
        for position in columns:
            value = cells[position].strip() if position < len(cells) else ""
            if value:
                values[name] = value
                break
    return values


# CSV.


def read_csv(text: str, *, kind: str | None, crs: int | None) -> Table:
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(f"the file is not CSV: {exc}") from exc
    positions = _fields_of(headers)
    coordinates = _coordinate_fields(positions, headers, crs=crs)
    use = _fields_to_read(positions, headers, kind=kind, layout="column") | coordinates
    columns = {name: headers[found[0]] for name, found in positions.items() if name in use}
    rows: list[Row] = []
    end_of_previous = reader.line_num
    try:
        for cells in reader:
            line = end_of_previous + 1
            end_of_previous = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            rows.append(_row(line, _values(cells, positions, use)))
    except csv.Error as exc:
        raise ImportFileError(f"the CSV breaks off at line {reader.line_num}: {exc}") from exc
    return Table("csv", rows, columns, crs, projected=coordinates == {"x", "y"})


def _coordinate_fields(
    positions: Mapping[str, list[int]], found: Sequence[str], *, crs: int | None
) -> set[str]:
    """lat/lon (WGS84) or x/y (in `crs`, or guessed): a CSV's columns that place its rows."""
    has_xy = {"x", "y"} <= positions.keys()
    has_latlon = {"lat", "lon"} <= positions.keys()
    if has_xy and (crs is not None or not has_latlon):
        return {"x", "y"}
    if has_latlon:
        if crs not in (None, WGS84):
            raise ImportFileError(
                f"the coordinates are latitude/longitude (WGS84); EPSG:{crs} is for x/y columns"
            )
        return {"lat", "lon"}
    listed = ", ".join(repr(name) for name in found) or "none"
    raise ImportFileError(
        f"no coordinate columns among ({listed}): expected 위도/경도 (lat/lon) or X좌표/Y좌표 (x/y)"
    )


def _row(line: int, values: dict[str, str]) -> Row:
    row = Row(line=line, values=values)
    if "lat" in values or "lon" in values or "x" in values or "y" in values:
        first, second = ("lon", "lat") if "lat" in values or "lon" in values else ("x", "y")
        row.x = _number(values.get(first), first, row.problems)
        row.y = _number(values.get(second), second, row.problems)
    else:
        row.problems.append("missing coordinates")
    return row


def _number(value: str | None, name: str, problems: list[str]) -> float | None:
    if value is None:
        problems.append(f"missing coordinate {name}")
        return None
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        problems.append(f"unparsable coordinate {name} {value[:40]!r}")
        return None
    if not math.isfinite(number):
        problems.append(f"unparsable coordinate {name} {value[:40]!r}")
        return None
    return number


# GeoJSON.


def read_geojson(text: str, *, kind: str | None, crs: int | None) -> Table:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"the file is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise ImportFileError("the JSON is not a GeoJSON FeatureCollection")
    features = document.get("features")
    if not isinstance(features, list):
        raise ImportFileError("the FeatureCollection has no list of features")
    if crs is None:
        crs = _geojson_crs(document)
    names = sorted({key for feature in features for key in _properties(feature)})
    # A feature's place is its geometry, never its properties.
    positions = {
        name: found
        for name, found in _fields_of(names).items()
        if name not in {"lat", "lon", "x", "y"}
    }
    use = _fields_to_read(positions, names, kind=kind, layout="property")
    columns = {name: names[found[0]] for name, found in positions.items() if name in use}
    rows = [
        _feature_row(index, feature, positions, use, names)
        for index, feature in enumerate(features, start=1)
    ]
    return Table("geojson", rows, columns, crs, projected=True)


def _geojson_crs(document: Mapping[str, Any]) -> int:
    """The legacy `crs` member's EPSG code; WGS84 without one (RFC 7946)."""
    member = document.get("crs")
    if member is None:
        return WGS84
    properties = member.get("properties") if isinstance(member, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str):
        raise ImportFileError("the GeoJSON 'crs' member has no properties.name")
    return parse_crs(name)


def _properties(feature: object) -> dict[str, Any]:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    return properties if isinstance(properties, dict) else {}


def _feature_row(
    index: int,
    feature: object,
    positions: Mapping[str, list[int]],
    use: Iterable[str],
    names: Sequence[str],
) -> Row:
    properties = _properties(feature)
    read = {position for name in use for position in positions[name]}
    cells: list[str] = []
    problems: list[str] = []
    for position, name in enumerate(names):
        value = properties.get(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
            if value is not None and position in read:
                problems.append(f"property {name!r} is not text or a number")
            cells.append("")
        else:
            cells.append(str(value))
    values = _values(cells, positions, use)
    if "source_id" not in values and isinstance(feature, dict):
        feature_id = feature.get("id")
        if isinstance(feature_id, str | int) and not isinstance(feature_id, bool):
            values["source_id"] = str(feature_id).strip()
    row = Row(line=index, values=values, problems=problems)
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        row.problems.append("not a GeoJSON Feature")
    elif not isinstance(geometry, dict):
        row.problems.append("missing coordinates (no geometry)")
    elif geometry.get("type") != "Point":
        row.problems.append(f"the geometry is a {str(geometry.get('type'))[:20]}, not a Point")
    else:
        coordinates = geometry.get("coordinates")
        if (
            isinstance(coordinates, list)
            and len(coordinates) >= 2
            and all(
                isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                for c in coordinates[:2]
            )
        ):
            row.x, row.y = float(coordinates[0]), float(coordinates[1])
        else:
            row.problems.append("unparsable coordinates")
    return row
