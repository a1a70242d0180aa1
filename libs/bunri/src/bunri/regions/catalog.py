"""Korea's 시·도 and 시·군·구, read from `data/regions.json`, and the check a profile needs.

The codes are 행정안전부's 행정표준코드 (the first 2 and 5 digits of the 10-digit 법정동코드
published at code.go.kr): a province has 2 digits, a district 5 that begin with its province's.
The districts are the basic local governments (자치구, 시, 군) plus 제주's two 행정시; a city
with 일반구 (수원시, 41110) is listed as the city, not its 구. 세종특별자치시 has none.

The file follows the reorganisations in force on 2026-07-01: 광주광역시 (29) and 전라남도 (46)
became 전남광주통합특별시 (12, districts 12xxx), and 인천's 중구, 동구 and 서구 became 제물포구,
영종구, 서해구 and 검단구. When the 행정표준코드 change again, edit the JSON; the loader refuses a
file that breaks the code rules.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bunri.errors import BunriError

DATA_FILE = "regions.json"

_PROVINCE_CODE = re.compile("[0-9]{2}")
_DISTRICT_CODE = re.compile("[0-9]{5}")


class RegionDataError(ValueError):
    """`regions.json` breaks a rule: a code's shape or prefix, a repeat, a missing field."""


class UnknownRegion(BunriError):
    status_code = 422
    code = "unknown_region"
    message = "The region is not a known Korean province or district."


@dataclass(frozen=True, slots=True)
class District:
    """A 시·군·구: `code` is its 5-digit 행정표준코드, `province_code` its province's 2 digits."""

    code: str
    name: str
    name_en: str
    province_code: str


@dataclass(frozen=True, slots=True)
class Province:
    """A 시·도 and its districts, in code order (none for 세종특별자치시)."""

    code: str
    name: str
    name_en: str
    districts: tuple[District, ...]


class RegionCatalog:
    """Every province and district, looked up by code."""

    __slots__ = ("_districts", "_provinces", "provinces")

    def __init__(self, provinces: Iterable[Province]) -> None:
        self.provinces: tuple[Province, ...] = tuple(provinces)
        self._provinces: dict[str, Province] = {}
        self._districts: dict[str, District] = {}
        for province in self.provinces:
            if not _PROVINCE_CODE.fullmatch(province.code):
                raise RegionDataError(f"province {province.code!r}: the code is not 2 digits")
            if province.code in self._provinces:
                raise RegionDataError(f"province {province.code}: the code is used twice")
            self._provinces[province.code] = province
            for district in province.districts:
                where = f"district {district.code!r} of province {province.code}"
                if not _DISTRICT_CODE.fullmatch(district.code):
                    raise RegionDataError(f"{where}: the code is not 5 digits")
                if district.province_code != province.code or not district.code.startswith(
                    province.code
                ):
                    raise RegionDataError(f"{where}: the code does not begin with the province's")
                if district.code in self._districts:
                    raise RegionDataError(f"{where}: the code is used twice")
                self._districts[district.code] = district

    def province(self, code: str) -> Province | None:
        """The province with this 2-digit code, or None."""
        return self._provinces.get(code)

    def district(self, code: str) -> District | None:
        """The district with this 5-digit code, or None."""
        return self._districts.get(code)

    def check_region(self, province_code: str, district_code: str | None) -> None:
        """Raise `UnknownRegion` unless the province exists and the district, if given, is in it."""
        province = self.province(province_code)
        if province is None:
            raise UnknownRegion(f"There is no province with the code {province_code!r}.")
        if district_code is None:
            return
        district = self.district(district_code)
        if district is None:
            raise UnknownRegion(f"There is no district with the code {district_code!r}.")
        if district.province_code != province.code:
            raise UnknownRegion(
                f"The district {district_code} ({district.name}) is not in the province"
                f" {province.code} ({province.name})."
            )


@functools.cache
def load_regions() -> RegionCatalog:
    """The catalog shipped with this package, read and checked once per process."""
    text = (resources.files("bunri.regions") / "data" / DATA_FILE).read_text(encoding="utf-8")
    return parse_regions(json.loads(text))


def parse_regions(document: Any) -> RegionCatalog:
    """Build a catalog from the decoded JSON; raise `RegionDataError` if it is malformed."""
    body = _object(document, DATA_FILE)
    items = body.get("provinces")
    if not isinstance(items, list):
        raise RegionDataError(f"{DATA_FILE}: 'provinces' must be a list")
    provinces = []
    for i, item in enumerate(items):
        where = f"{DATA_FILE}: provinces[{i}]"
        fields = _object(item, where)
        code = _string(fields, "code", where)
        raw_districts = fields.get("districts")
        if not isinstance(raw_districts, list):
            raise RegionDataError(f"{where}: 'districts' must be a list")
        districts = []
        for j, raw in enumerate(raw_districts):
            inner = f"{where}.districts[{j}]"
            district = _object(raw, inner)
            districts.append(
                District(
                    code=_string(district, "code", inner),
                    name=_string(district, "name", inner),
                    name_en=_string(district, "name_en", inner),
                    province_code=code,
                )
            )
        provinces.append(
            Province(
                code=code,
                name=_string(fields, "name", where),
                name_en=_string(fields, "name_en", where),
                districts=tuple(districts),
            )
        )
    return RegionCatalog(provinces)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RegionDataError(f"{where}: must be an object")
    return value


def _string(fields: Mapping[str, Any], key: str, where: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise RegionDataError(f"{where}: {key!r} must be a non-empty string")
    return value
