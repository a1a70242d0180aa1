"""Korea's 시·도 (provinces) and 시·군·구 (districts) with their 행정표준코드, to pick and check.

The data is 행정안전부's 행정표준코드 (code.go.kr), shipped as JSON inside this package;
`load_regions()` reads and checks it once. Profiles store a province code and a district code and
validate them with `RegionCatalog.check_region`, which raises `UnknownRegion` (422).
"""

from bunri.regions.catalog import (
    District,
    Province,
    RegionCatalog,
    RegionDataError,
    UnknownRegion,
    load_regions,
    parse_regions,
)

__all__ = [
    "District",
    "Province",
    "RegionCatalog",
    "RegionDataError",
    "UnknownRegion",
    "load_regions",
    "parse_regions",
]
