"""`bunri locations import`: public lists of collection points read (CSV as data.go.kr publishes
them, in UTF-8 or CP949, our English headers, GeoJSON), their coordinates projected from the
Korean TM systems, bad rows named by their line, and the upsert into PostGIS: idempotent, every
place it touched reported, nothing written when a row is bad, the command's exit codes.

The projections are checked against their definitions (each system's origin maps to its false
easting and northing) and a round trip through pyproj's forward transform; the GeoJSON sample
(`data/points_5186.geojson`) holds invented points (names end in "(예시)")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer
from redis.asyncio import Redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bunri.db.models.location import CollectionPoint
from bunri.db.sync import sync_url
from bunri.locations import importer, projections
from bunri.locations.cache import entry_key
from bunri.locations.cells import cell_of
from bunri.locations.errors import ImportFileError
from bunri.locations.importer import ParseResult, RejectedRow, parse_file
from bunri.locations.imports import import_points
from bunri.locations.kinds import all_kinds
from bunri.locations.points import PointRecord
from bunri.locations.schema import NO_POSTGIS

DATA = Path(__file__).parent / "data"
SAMPLE = Path(importer.__file__).parent / "data" / "sample_points.csv"
BUNRI = str(Path(sys.executable).parent / "bunri")

CITY_HALL = (37.5663, 126.9779)  # 서울특별시청, WGS84 (lat, lon)
METRE_IN_DEGREES = 1 / 111_000
HEADER = "관리번호,수거함종류,설치장소명,소재지도로명주소,위도,경도,운영시간"


def write(tmp_path: Path, text_: str, name: str = "points.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text_.encode(encoding))
    return path


def near(actual: float, expected: float, metres: float = 1.0) -> bool:
    return abs(actual - expected) <= metres * METRE_IN_DEGREES


def xy_file(tmp_path: Path, x: float, y: float) -> Path:
    return write(tmp_path, f"source_id,name,kind,address,x,y\nA-1,시청 (예시),battery,,{x},{y}\n")


# Parsing: layouts and encodings.


def test_the_sample_file_is_48_invented_points_of_every_kind() -> None:
    parsed = parse_file(SAMPLE, source="sample")
    assert parsed.rejected == []
    assert len(parsed.records) == 48
    assert {record.kind for record in parsed.records} == set(all_kinds())
    assert all(record.name.endswith("(예시)") for record in parsed.records)
    assert parsed.columns["address"] == "소재지도로명주소"  # the road address before the jibun one
    assert parsed.crs == 4326
    assert not parsed.crs_guessed
    first = parsed.records[0]
    assert (first.source, first.source_id, first.kind) == ("sample", "EX-0001", "battery")
    readme = SAMPLE.with_name("sample_points.README.md").read_text("utf-8")
    assert "invented sample data" in readme
    assert "Not real facilities" in readme


def test_english_headers_and_per_row_address_fallback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Source_ID,Name,Kind,도로명주소,지번주소,Lat,Lon,Opening_Notes\n"
        'p1,Box (예시),lamp,,역삼동 1-1,37.5,127.03,"Mon-Fri\n09-18"\n'
        "p2,Box 2 (예시),폐형광등 수거함,강남대로 1,역삼동 1-2,37.51,127.04,\n",
    )
    parsed = parse_file(path, source="gangnam")
    assert parsed.rejected == []
    one, two = parsed.records
    assert one == PointRecord(
        "gangnam", "p1", "lamp", "Box (예시)", "역삼동 1-1", 37.5, 127.03, "Mon-Fri\n09-18"
    )
    assert (two.kind, two.address, two.opening_notes) == ("lamp", "강남대로 1", None)


def test_a_cp949_file_reads_as_a_utf8_one(tmp_path: Path) -> None:
    rows = (
        f"{HEADER}\n"
        "1,폐건전지,역삼1동 주민센터 (예시),강남구 역삼로 1,37.4958,127.0332,평일 09:00-18:00\n"
        "2,의류,테헤란로 아파트 단지 (예시),강남구 테헤란로 2,37.5001,127.0361,\n"
    )
    cp949 = parse_file(write(tmp_path, rows, "cp949.csv", "cp949"), source="s")
    utf8 = parse_file(write(tmp_path, rows, "utf8.csv"), source="s")
    bom = parse_file(write(tmp_path, rows, "bom.csv", "utf-8-sig"), source="s")
    assert cp949.records == utf8.records == bom.records
    assert [record.name for record in cp949.records] == [
        "역삼1동 주민센터 (예시)",
        "테헤란로 아파트 단지 (예시)",
    ]
    assert bom.columns["source_id"] == "관리번호"


def test_a_geojson_file_in_epsg_5186() -> None:
    parsed = parse_file(DATA / "points_5186.geojson", source="gj")
    assert parsed.layout == "geojson"
    assert parsed.crs == 5186
    assert parsed.rejected == []
    assert {record.kind for record in parsed.records} == set(all_kinds())
    hall = parsed.records[0]
    assert hall.source_id == "GJ-1"
    # Written from City Hall's WGS84 place, to the centimetre.
    assert near(hall.lat, CITY_HALL[0], 0.05)
    assert near(hall.lon, CITY_HALL[1], 0.05)


def test_geojson_without_a_crs_member_is_wgs84_and_projected_numbers_fall_outside_korea(
    tmp_path: Path,
) -> None:
    document = json.loads((DATA / "points_5186.geojson").read_text("utf-8"))
    del document["crs"]
    path = write(tmp_path, json.dumps(document, ensure_ascii=False), "no-crs.geojson")
    parsed = parse_file(path, source="gj")
    assert parsed.records == []
    assert [row.line for row in parsed.rejected] == [1, 2, 3, 4, 5, 6]
    assert all(row.reason.startswith("outside Korea") for row in parsed.rejected)
    # The same file, told its CRS, reads as the original.
    told = parse_file(path, source="gj", crs="EPSG:5186")
    assert told.records == parse_file(DATA / "points_5186.geojson", source="gj").records


def test_geojson_rows_are_numbered_by_feature(tmp_path: Path) -> None:
    def feature(coordinates: Any, **properties: Any) -> dict[str, Any]:
        geometry = None if coordinates is None else {"type": "Point", "coordinates": coordinates}
        return {"type": "Feature", "geometry": geometry, "properties": properties}

    document = {
        "type": "FeatureCollection",
        "features": [
            feature([126.9779, 37.5663], name="ok (예시)", kind="battery"),
            feature(None, name="no geometry (예시)", kind="battery"),
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[127, 37], [127.1, 37.1]]},
                "properties": {"name": "line (예시)", "kind": "battery"},
            },
            feature([126.9779, 37.5663], name={"ko": "nested"}, kind="battery"),
            feature([37.5663, 126.9779], name="swapped (예시)", kind="battery"),
            {
                "type": "Feature",
                "id": 77,
                "geometry": {"type": "Point", "coordinates": [127.0, 37.5]},
                "properties": {"name": "id from the feature (예시)", "kind": "clothes"},
            },
        ],
    }
    parsed = parse_file(write(tmp_path, json.dumps(document), "f.geojson"), source="gj")
    assert [record.source_id for record in parsed.records][1] == "77"
    reasons = {row.line: row.reason for row in parsed.rejected}
    assert set(reasons) == {2, 3, 4, 5}
    assert "missing coordinates" in reasons[2]
    assert "not a Point" in reasons[3]
    assert "not text or a number" in reasons[4]
    assert "missing name" in reasons[4]
    assert reasons[5].startswith("outside Korea")
    assert next(iter(importer.rejected_lines(parsed))).startswith("feature 2: ")


# Projections.

# Each system's natural origin and where its definition puts it (false easting, northing):
# KGD2002 (GRS80) is WGS84 to the centimetre, so the origin's WGS84 place is exact.
ORIGINS = [
    ("EPSG:5186", (200_000.0, 600_000.0), (38.0, 127.0)),  # 중부원점, false northing 600,000
    ("5181", (200_000.0, 500_000.0), (38.0, 127.0)),  # 중부원점 (Kakao, Daum)
    ("EPSG:5179", (1_000_000.0, 2_000_000.0), (38.0, 127.5)),  # UTM-K (Naver)
]


@pytest.mark.parametrize(("crs", "xy", "lat_lon"), ORIGINS)
def test_each_projection_puts_its_origin_where_its_definition_does(
    tmp_path: Path, crs: str, xy: tuple[float, float], lat_lon: tuple[float, float]
) -> None:
    (record,) = parse_file(xy_file(tmp_path, *xy), source="s", crs=crs).records
    assert near(record.lat, lat_lon[0])
    assert near(record.lon, lat_lon[1])


def test_epsg_5174_is_bessel_shifted_to_wgs84(tmp_path: Path) -> None:
    """The old 중부원점 (Bessel): its origin is 38 N, 127°00'10.405" E on the Korean 1985
    datum (EPSG:4162), which lies a few hundred metres from that place in WGS84."""
    bessel_origin = (127 + 10.405 / 3600, 38.0)
    lon, lat = Transformer.from_crs(4162, 4326, always_xy=True).transform(*bessel_origin)
    assert abs(lat - 38.0) / METRE_IN_DEGREES + abs(lon - bessel_origin[0]) / METRE_IN_DEGREES > 100
    (record,) = parse_file(xy_file(tmp_path, 200_000, 500_000), source="s", crs="5174").records
    assert near(record.lat, lat, 3)
    assert near(record.lon, lon, 3)


@pytest.mark.parametrize("crs", [5174, 5181, 5186, 5179])
def test_city_hall_goes_there_and_back(tmp_path: Path, crs: int) -> None:
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(CITY_HALL[1], CITY_HALL[0])
    if crs == 5186:
        assert abs(x - 198_000) < 100
        assert abs(y - 552_000) < 200
    (record,) = parse_file(xy_file(tmp_path, x, y), source="s", crs=f"EPSG:{crs}").records
    assert near(record.lat, CITY_HALL[0], 0.05)
    assert near(record.lon, CITY_HALL[1], 0.05)


def test_the_crs_is_guessed_only_where_one_fits(tmp_path: Path) -> None:
    to_utmk = Transformer.from_crs(4326, 5179, always_xy=True)
    path = xy_file(tmp_path, *to_utmk.transform(CITY_HALL[1], CITY_HALL[0]))
    utmk = parse_file(path, source="s")
    assert (utmk.crs, utmk.crs_guessed) == (5179, True)
    assert near(utmk.records[0].lat, CITY_HALL[0], 0.05)
    degrees = parse_file(xy_file(tmp_path, CITY_HALL[1], CITY_HALL[0]), source="s")
    assert (degrees.crs, degrees.crs_guessed) == (4326, True)
    # The central-belt systems overlap over the whole country: never guessed.
    to_5186 = Transformer.from_crs(4326, 5186, always_xy=True)
    with pytest.raises(ImportFileError, match=r"EPSG:5186, EPSG:5181, EPSG:5174 alike.*--crs"):
        parse_file(xy_file(tmp_path, *to_5186.transform(CITY_HALL[1], CITY_HALL[0])), source="s")
    with pytest.raises(ImportFileError, match="fit none"):
        parse_file(xy_file(tmp_path, 5.0, 7.0), source="s")


def test_crs_forms_and_refusals() -> None:
    assert projections.parse_crs("EPSG:5186") == projections.parse_crs("5186") == 5186
    assert projections.parse_crs("urn:ogc:def:crs:EPSG::5179") == 5179
    assert projections.parse_crs("urn:ogc:def:crs:OGC:1.3:CRS84") == 4326
    with pytest.raises(ImportFileError, match="not an EPSG code"):
        projections.parse_crs("TM중부")
    with pytest.raises(ImportFileError, match="not used in Korea"):
        projections.parse_crs("EPSG:2154")  # Lambert-93, France
    with pytest.raises(ImportFileError, match="pyproj knows"):
        projections.parse_crs("EPSG:99999")


# Bad rows, named by their line.


def test_bad_rows_are_rejected_with_their_line_and_reason(tmp_path: Path) -> None:
    too_long = "가" * 201
    path = write(
        tmp_path,
        f"{HEADER}\n"  # line 1
        "1,폐건전지,역삼1동 주민센터 (예시),강남구 역삼로 1,37.4958,127.0332,\n"  # 2
        "2,폐건전지,,강남구 역삼로 2,37.4958,127.0333,\n"  # 3: no name
        # 4-5: a note of two lines
        '3,의류,"두 줄 비고 (예시)",강남구 역삼로 3,37.4959,127.0334,"평일\n주말 휴무"\n'
        "4,음식물,음식물 수거함 (예시),강남구 역삼로 4,37.4960,127.0335,\n"  # 6: unknown kind
        "\n"  # 7: blank, skipped
        "5,폐건전지,뒤바뀐 좌표 (예시),강남구 역삼로 5,127.0336,37.4961,\n"  # 8: swapped
        "6,폐건전지,숫자 아님 (예시),강남구 역삼로 6,37.49x,127.0337,\n"  # 9
        "7,폐건전지,제어\u0007문자 (예시),강남구 역삼로 7,37.4962,127.0338,\n"  # 10
        f"8,폐건전지,{too_long},강남구 역삼로 8,37.4963,127.0339,\n"  # 11
        "1,폐형광등,같은 번호 (예시),강남구 역삼로 9,37.4964,127.0340,\n"  # 12: id of line 2
        "10,폐형광등·폐건전지,함께 (예시),강남구 역삼로 10,37.4965,127.0341,\n"  # 13
        "11,,종류 없음 (예시),강남구 역삼로 11,37.4966,127.0342,\n"  # 14
        "12,폐의약품,좌표 없음 (예시),강남구 역삼로 12,,,\n"  # 15
        "13,폐의약품,\u202e뒤집힌 (예시),강남구 역삼로 13,37.4967,127.0343,\n",  # 16
    )
    parsed = parse_file(path, source="s")
    assert [record.source_id for record in parsed.records] == ["1", "3"]
    assert parsed.records[1].opening_notes == "평일\n주말 휴무"
    reasons = {row.line: row.reason for row in parsed.rejected}
    assert reasons == {
        3: "missing name",
        6: "unknown kind '음식물'",
        8: "outside Korea (lat 127.03360, lon 37.49610: latitude and longitude swapped?)",
        9: "unparsable coordinate lat '37.49x'",
        10: "name contains a control character (U+0007; one line, no tabs)",
        11: "name too long (201 characters, at most 200)",
        12: "duplicate source_id '1' (first at line 2)",
        13: "kind '폐형광등·폐건전지' names more than one kind (battery, lamp)",
        14: "missing kind",
        15: "missing coordinates",
        16: "name contains a text-direction control character",
    }
    assert next(iter(importer.rejected_lines(parsed))) == "line 3: missing name"


def test_the_kind_option_names_every_row_and_ids_are_derived_stably(tmp_path: Path) -> None:
    rows = (
        "설치장소명,주소,위도,경도,구분\n"
        "약국 (예시),중구 1,37.56,126.97,주민센터\n"
        "약국 2 (예시),중구 2,37.57,126.98,\n"
    )
    path = write(tmp_path, rows)
    with pytest.raises(ImportFileError, match="kind"):
        parse_file(path, source="s", kind="pharmacy")
    first = parse_file(path, source="s", kind="medicine")
    assert first.rejected == []
    assert first.derived_ids == 2
    assert {record.kind for record in first.records} == {"medicine"}
    ids = [record.source_id for record in first.records]
    assert all(id_.startswith("sha256:") and len(id_) == 7 + 32 for id_ in ids)
    assert len(set(ids)) == 2
    assert [
        record.source_id for record in parse_file(path, source="s", kind="medicine").records
    ] == ids
    # Without --kind, 구분 is read: "주민센터" names no kind.
    assert parse_file(path, source="s").rejected[0] == RejectedRow(2, "unknown kind '주민센터'")


# File-level errors.


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"PK\x03\x04rest of a workbook", {}, "spreadsheet workbook"),
        (b"", {}, "empty"),
        (b"\xff\xfe\x00\xd8broken", {}, "not text"),
        (b"\x80\x00\x81\x00binary", {}, "not text"),
        ("이름,위도,경도\n가,37.5,127\n".encode(), {}, "no name column"),
        ("설치장소명,위도,경도\n가,37.5,127\n".encode(), {}, "no kind column"),
        ("설치장소명,주소\n가,중구\n".encode(), {"kind": "battery"}, "no coordinate columns"),
        (
            "설치장소명,위도,경도\n가,37.5,127\n".encode(),
            {"kind": "battery", "crs": "5186"},
            "latitude/longitude",
        ),
        (b'{"type": "FeatureCollection", "features": [', {}, "not valid JSON"),
        (b'{"type": "Feature"}', {}, "not a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": [], "crs": {}}', {}, "properties.name"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    tmp_path: Path, content: bytes, options: dict[str, str], message: str
) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        parse_file(path, source="s", **options)


def test_a_missing_file_and_a_bad_source_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        parse_file(tmp_path / "absent.csv", source="s")
    for source, message in [("", "empty"), ("a\tb", "control"), ("s" * 65, "longer than 64")]:
        with pytest.raises(ImportFileError, match=message):
            parse_file(SAMPLE, source=source)


def test_the_limits_are_the_columns_lengths() -> None:
    columns = CollectionPoint.__table__.columns
    for name, limit in importer.LIMITS.items():
        assert columns[name].type.length == limit, name  # type: ignore[attr-defined]
    assert columns["opening_notes"].type.length == importer.NOTES_LIMIT  # type: ignore[attr-defined]


# The database.


@pytest.fixture
def sync_engine(clean_database: AsyncEngine, database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    yield engine
    engine.dispose()


def stored(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT source_id, kind, name, ST_Y(location::geometry), ST_X(location::geometry),"
                " updated_at FROM collection_points"
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def import_file(engine: Engine, parsed: ParseResult) -> Any:
    with engine.begin() as connection:
        return import_points(connection, parsed.records)


async def test_a_second_import_of_the_same_file_changes_nothing(sync_engine: Engine) -> None:
    parsed = parse_file(SAMPLE, source="sample")
    first = import_file(sync_engine, parsed)
    assert (first.inserted, first.updated, first.unchanged) == (48, 0, 0)
    assert len(first.touched) == 48
    before = stored(sync_engine)
    with Session(sync_engine) as session:  # a Session does as well as a Connection
        again = import_points(session, parse_file(SAMPLE, source="sample").records)
        session.commit()
    assert (again.inserted, again.updated, again.unchanged, again.touched) == (0, 0, 48, [])
    assert stored(sync_engine) == before  # updated_at included
    # The same ids under another source are other points.
    other = import_file(sync_engine, parse_file(SAMPLE, source="sample-copy"))
    assert other.inserted == 48


async def test_an_update_reports_where_the_point_was_and_where_it_is(
    sync_engine: Engine, tmp_path: Path
) -> None:
    same = "2,의류,그대로 (예시),중구 2,37.57,126.98,\n"
    old = f"{HEADER}\n1,폐건전지,옛 자리 (예시),중구 1,37.5663,126.9779,\n{same}"
    new = f"{HEADER}\n1,폐형광등,새 자리 (예시),중구 1,35.1579,129.0597,\n{same}"
    import_file(sync_engine, parse_file(write(tmp_path, old, "old.csv"), source="s"))
    before = stored(sync_engine)
    report = import_file(sync_engine, parse_file(write(tmp_path, new, "new.csv"), source="s"))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    assert sorted(report.touched) == [("battery", 37.5663, 126.9779), ("lamp", 35.1579, 129.0597)]
    after = stored(sync_engine)
    assert after["1"][:4] == ("lamp", "새 자리 (예시)", 35.1579, 129.0597)
    assert after["1"][4] > before["1"][4]
    assert after["2"] == before["2"]


async def test_records_naming_one_id_twice_are_refused(sync_engine: Engine) -> None:
    record = PointRecord("s", "1", "battery", "a", "", 37.5, 127.0)
    with sync_engine.begin() as connection, pytest.raises(ValueError, match="twice"):
        import_points(connection, [record, record])


# The command.


def bunri(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUNRI, "locations", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_CACHE_REDIS_URL": redis_url,
    }


def bad_file(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        f"{HEADER}\n"
        "1,폐건전지,좋은 곳 (예시),중구 1,37.5663,126.9779,\n"
        "2,폐건전지,,중구 2,37.5664,126.9780,\n"
        "3,의류,좋은 곳 2 (예시),중구 3,37.5665,126.9781,\n",
    )


async def test_a_bad_row_refuses_the_import_unless_skipped(
    sync_engine: Engine, tmp_path: Path, database_url: str, redis: Redis, redis_url: str
) -> None:
    env = environment(database_url, redis_url)
    path = bad_file(tmp_path)
    refused = bunri(str(path), "--source", "s", env=env)
    assert refused.returncode == 1, refused.stderr
    assert "line 3: missing name" in refused.stdout
    assert "nothing imported" in refused.stderr
    assert stored(sync_engine) == {}

    dry = bunri(str(path), "--source", "s", "--skip-bad-rows", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would have inserted 2, updated 0, unchanged 0, rejected 1" in dry.stdout
    assert stored(sync_engine) == {}

    # A cached answer around a point the import adds is forgotten after the commit.
    cached = entry_key("battery", 500, cell_of(37.5663, 126.9779))
    await redis.set(cached, b"{}")
    done = bunri(str(path), "--source", "s", "--skip-bad-rows", env=env)
    assert done.returncode == 0, done.stderr
    assert "inserted 2, updated 0, unchanged 0, rejected 1" in done.stdout
    assert "line 3: missing name" in done.stdout
    assert set(stored(sync_engine)) == {"1", "3"}
    assert await redis.exists(cached) == 0

    again = bunri(str(path), "--source", "s", "--skip-bad-rows", env=env)
    assert again.returncode == 0, again.stderr
    assert "inserted 0, updated 0, unchanged 2, rejected 1" in again.stdout


async def test_the_command_warns_when_redis_is_away_and_refuses_unreadable_files(
    sync_engine: Engine, tmp_path: Path, database_url: str
) -> None:
    env = environment(database_url, "redis://127.0.0.1:9/0")
    done = bunri(str(SAMPLE), "--source", "sample", env=env)
    assert done.returncode == 0, done.stderr
    assert "inserted 48, updated 0, unchanged 0, rejected 0" in done.stdout
    assert "may be stale" in done.stderr
    assert len(stored(sync_engine)) == 48

    workbook = write(tmp_path, "PK\x03\x04", "list.xlsx")
    refused = bunri(str(workbook), "--source", "x", env=env)
    assert refused.returncode == 1
    assert "spreadsheet workbook" in refused.stderr
    unknown = bunri(str(SAMPLE), "--source", "x", "--crs", "EPSG:2154", env=env)
    assert unknown.returncode == 1
    assert "not used in Korea" in unknown.stderr


def test_a_database_without_postgis_exits_2(tmp_path: Path, redis_url: str) -> None:
    env = environment(f"sqlite+aiosqlite:///{tmp_path / 'bunri.sqlite3'}", redis_url)
    result = bunri(str(SAMPLE), "--source", "sample", env=env)
    assert result.returncode == 2, result.stderr
    assert NO_POSTGIS in result.stderr.replace("\n", " ")
