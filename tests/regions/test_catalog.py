"""The 시·도 / 시·군·구 catalog shipped in `bunri.regions`, and the check profiles run on a pick."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from bunri.errors import BunriError
from bunri.regions import (
    District,
    RegionCatalog,
    RegionDataError,
    UnknownRegion,
    load_regions,
    parse_regions,
)

# 2026-07-01 onwards: 광주(29) and 전남(46) are one province, 12; 강원 51, 전북 52.
PROVINCE_CODES = [
    "11", "12", "26", "27", "28", "30", "31", "36", "41", "43", "44", "47", "48", "50", "51", "52",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> RegionCatalog:
    return load_regions()


def test_loading_is_cached() -> None:
    assert load_regions() is load_regions()


def test_every_current_province_once(catalog: RegionCatalog) -> None:
    codes = [p.code for p in catalog.provinces]
    assert codes == PROVINCE_CODES
    assert len(set(codes)) == len(codes) == 16
    assert {p.name for p in catalog.provinces} >= {
        "서울특별시", "세종특별자치시", "강원특별자치도", "전북특별자치도", "제주특별자치도",
        "전남광주통합특별시",
    }  # fmt: skip


def test_codes_are_well_formed_and_unique(catalog: RegionCatalog) -> None:
    seen: set[str] = set()
    for province in catalog.provinces:
        assert re.fullmatch("[0-9]{2}", province.code)
        assert province.name
        assert province.name_en
        codes = [d.code for d in province.districts]
        assert codes == sorted(codes), f"{province.name}: districts out of code order"
        assert len({d.name for d in province.districts}) == len(codes), province.name
        for district in province.districts:
            assert re.fullmatch("[0-9]{5}", district.code)
            assert district.code.startswith(province.code)
            assert district.province_code == province.code
            assert district.name[-1] in "시군구", district.name
            assert re.fullmatch(r"[A-Z][a-z]+(-[a-z]+)*-(si|gun|gu)", district.name_en), district
            assert district.code not in seen
            seen.add(district.code)
            assert catalog.district(district.code) is district
    assert len(seen) == 229


@pytest.mark.parametrize(
    ("code", "name", "name_en", "province_code"),
    [
        ("11680", "강남구", "Gangnam-gu", "11"),
        ("11500", "강서구", "Gangseo-gu", "11"),
        ("26440", "강서구", "Gangseo-gu", "26"),
        ("27720", "군위군", "Gunwi-gun", "27"),
        ("41190", "부천시", "Bucheon-si", "41"),
        ("41110", "수원시", "Suwon-si", "41"),
        ("41610", "광주시", "Gwangju-si", "41"),
        ("28290", "검단구", "Geomdan-gu", "28"),
        ("12330", "광산구", "Gwangsan-gu", "12"),
        ("51110", "춘천시", "Chuncheon-si", "51"),
        ("52110", "전주시", "Jeonju-si", "52"),
        ("50130", "서귀포시", "Seogwipo-si", "50"),
    ],
)
def test_known_districts(
    catalog: RegionCatalog, code: str, name: str, name_en: str, province_code: str
) -> None:
    assert catalog.district(code) == District(code, name, name_en, province_code)


@pytest.mark.parametrize(
    "code",
    [
        "47720",  # 군위군 before it moved to 대구 (2023)
        "42110",  # 강원도 춘천시 before 강원특별자치도 (2023)
        "45110",  # 전라북도 전주시 before 전북특별자치도 (2024)
        "29200",  # 광주광역시 광산구 before 전남광주통합특별시 (2026)
        "28110",  # 인천 중구, split in 2026
        "41111",  # 수원시 장안구: an 일반구, not listed
        "41195",  # 부천시's 일반구 abolished in 2016
    ],
)
def test_superseded_and_sub_city_codes_are_absent(catalog: RegionCatalog, code: str) -> None:
    assert catalog.district(code) is None


def test_district_counts(catalog: RegionCatalog) -> None:
    counts = {p.code: len(p.districts) for p in catalog.provinces}
    assert counts == {
        "11": 25, "12": 27, "26": 16, "27": 9, "28": 11, "30": 5, "31": 5, "36": 0, "41": 31,
        "43": 11, "44": 15, "47": 22, "48": 18, "50": 2, "51": 18, "52": 14,
    }  # fmt: skip


def test_former_gwangju_keeps_its_five_autonomous_districts(catalog: RegionCatalog) -> None:
    merged = catalog.province("12")
    assert merged is not None
    assert merged.name == "전남광주통합특별시"
    gu = [d.name for d in merged.districts if d.name.endswith("구")]
    assert gu == ["동구", "서구", "남구", "북구", "광산구"]
    assert catalog.province("29") is None
    assert catalog.province("46") is None


def test_incheon_after_the_2026_reorganisation(catalog: RegionCatalog) -> None:
    incheon = catalog.province("28")
    assert incheon is not None
    names = [d.name for d in incheon.districts]
    assert {"제물포구", "영종구", "서해구", "검단구"} <= set(names)
    assert not {"중구", "동구", "서구"} & set(names)


def test_sejong_has_no_districts(catalog: RegionCatalog) -> None:
    sejong = catalog.province("36")
    assert sejong is not None
    assert sejong.name == "세종특별자치시"
    assert sejong.name_en == "Sejong"
    assert sejong.districts == ()


def test_province_lookup(catalog: RegionCatalog) -> None:
    seoul = catalog.province("11")
    assert seoul is not None
    assert (seoul.name, seoul.name_en) == ("서울특별시", "Seoul")
    assert catalog.province("99") is None
    assert catalog.province("") is None


@pytest.mark.parametrize(
    ("province", "district"),
    [
        ("11", "11680"),
        ("26", "26440"),
        ("27", "27720"),
        ("12", "12210"),
        ("36", None),
        ("11", None),
    ],
)
def test_check_region_accepts(catalog: RegionCatalog, province: str, district: str | None) -> None:
    catalog.check_region(province, district)


def test_check_region_unknown_province(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegion, match="'99'") as caught:
        catalog.check_region("99", None)
    assert isinstance(caught.value, BunriError)
    assert caught.value.status_code == 422
    assert caught.value.code == "unknown_region"
    assert "province" in caught.value.detail


def test_check_region_unknown_district(catalog: RegionCatalog) -> None:
    with pytest.raises(UnknownRegion, match="'11999'") as caught:
        catalog.check_region("11", "11999")
    assert "district" in caught.value.detail


def test_check_region_district_of_another_province(catalog: RegionCatalog) -> None:
    # 강서구 exists in both 서울 (11500) and 부산 (26440): the code decides.
    catalog.check_region("26", "26440")
    with pytest.raises(UnknownRegion, match="26440") as caught:
        catalog.check_region("11", "26440")
    assert "not in the province 11" in caught.value.detail


def test_shipped_file_is_the_one_read() -> None:
    path = resources.files("bunri.regions") / "data" / "regions.json"
    assert path.is_file()
    assert parse_regions(json.loads(path.read_text(encoding="utf-8"))).provinces == (
        load_regions().provinces
    )


def _document(*districts: dict[str, Any], code: str = "11") -> dict[str, Any]:
    province = {"code": code, "name": "서울", "name_en": "Seoul", "districts": list(districts)}
    return {"provinces": [province]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be an object"),
        ({"provinces": {}}, "'provinces' must be a list"),
        (_document(code="1"), "not 2 digits"),
        (_document({"code": "1168", "name": "강남구", "name_en": "Gangnam-gu"}), "not 5 digits"),
        (_document({"code": "26440", "name": "강서구", "name_en": "Gangseo-gu"}), "begin with"),
        (_document({"code": "11680", "name": "", "name_en": "Gangnam-gu"}), "'name'"),
        (_document({"code": "11680", "name": "강남구"}), "'name_en'"),
        (
            _document(
                {"code": "11680", "name": "강남구", "name_en": "Gangnam-gu"},
                {"code": "11680", "name": "강남구", "name_en": "Gangnam-gu"},
            ),
            "used twice",
        ),
        ({"provinces": [_document()["provinces"][0]] * 2}, "used twice"),
    ],
)
def test_malformed_data_is_refused(document: Any, message: str) -> None:
    with pytest.raises(RegionDataError, match=message):
        parse_regions(document)
