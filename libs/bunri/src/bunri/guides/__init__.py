"""The waste taxonomy (대분류 / 중분류 / 소분류) and a disposal guide for every middle class.

The data is the project's own, written from Korea's household-waste separation rules (비우기,
헹구기, 분리하기, 섞지 않기) and shipped as TOML inside this package; `load_taxonomy()` reads and
checks it once. The classifier takes its label space and prompts from `Taxonomy.minors()`, the guide
endpoints and scan results render with `Taxonomy.as_api()` and `Guide.as_api()`.
"""

from bunri.guides.loader import TaxonomyError, load_taxonomy, load_taxonomy_from
from bunri.guides.model import (
    Guide,
    GuideBody,
    Label,
    MajorBody,
    MajorClass,
    MiddleBody,
    MiddleClass,
    MinorBody,
    MinorClass,
    NotAccepted,
    Taxonomy,
    TaxonomyBody,
    Text,
    UnknownClass,
)

__all__ = [
    "Guide",
    "GuideBody",
    "Label",
    "MajorBody",
    "MajorClass",
    "MiddleBody",
    "MiddleClass",
    "MinorBody",
    "MinorClass",
    "NotAccepted",
    "Taxonomy",
    "TaxonomyBody",
    "TaxonomyError",
    "Text",
    "UnknownClass",
    "load_taxonomy",
    "load_taxonomy_from",
]
