"""Reading the guide data shipped in `data/`, and refusing it loudly when an edit broke a rule.

The data is hand-written, so it is checked in full at load time: a missing translation, a guide with
one step, a class name used twice or a typo in a field name stops the loading service at start-up
with the file and field named, instead of reaching users as a half-empty guide or a classifier with
two labels of the same name.

Layout: `taxonomy.toml` lists the major classes' files in order; each of those holds one `[major]`
table and its `[[middle]]` classes, each with a `[middle.guide]` (`[[middle.guide.step]]`,
`[[middle.guide.caution]]`, `[[middle.guide.not_accepted]]`) and its `[[middle.minor]]` items.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from bunri.guides.model import (
    Guide,
    MajorClass,
    MiddleClass,
    MinorClass,
    NotAccepted,
    Taxonomy,
    Text,
)

INDEX_FILE = "taxonomy.toml"

_FILE_STEM = re.compile("[a-z0-9_-]+")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")
# CLIP's text encoder reads at most 77 tokens; a prompt well under that many words stays whole.
_MAX_PROMPT_WORDS = 30


class TaxonomyError(ValueError):
    """The guide data breaks one of the rules below; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Bounds:
    least: int
    most: int


MAJOR_FILES = Bounds(1, 12)
MIDDLES_PER_MAJOR = Bounds(1, 12)
STEPS = Bounds(3, 6)
CAUTIONS = Bounds(2, 5)
NOT_ACCEPTED = Bounds(2, 6)
MINORS_PER_MIDDLE = Bounds(2, 6)
PROMPTS_PER_MINOR = Bounds(2, 4)


@functools.cache
def load_taxonomy() -> Taxonomy:
    """The taxonomy shipped with this package, read and checked once per process."""
    return load_taxonomy_from(resources.files("bunri.guides") / "data")


def load_taxonomy_from(directory: Traversable) -> Taxonomy:
    """Read and check the data in `directory` (a `Path` will do); raise `TaxonomyError` if bad."""
    index = _read(directory, INDEX_FILE)
    _fields(index, INDEX_FILE, required={"majors"})
    majors = []
    for i, item in enumerate(_array(index, "majors", INDEX_FILE, MAJOR_FILES)):
        stem = _string(item, f"{INDEX_FILE}: majors[{i}]")
        if not _FILE_STEM.fullmatch(stem):
            raise TaxonomyError(f"{INDEX_FILE}: majors[{i}]: a file stem of a-z, 0-9, _ and -")
        name = f"{stem}.toml"
        majors.append(_major(_read(directory, name), name))
    taxonomy = Taxonomy(tuple(majors))
    _check_unique(taxonomy)
    _check_destinations(taxonomy)
    return taxonomy


def _read(directory: Traversable, name: str) -> dict[str, object]:
    path = directory / name
    if not path.is_file():
        raise TaxonomyError(f"{name}: no such file in the guide data")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise TaxonomyError(f"{name}: not valid TOML: {error}") from error


def _major(document: dict[str, object], where: str) -> MajorClass:
    _fields(document, where, required={"major", "middle"})
    header = _table(document["major"], f"{where}: major")
    _fields(header, f"{where}: major", required={"name", "name_en", "summary", "summary_en"})
    name = _korean(header["name"], f"{where}: major.name")
    middles = _array(document, "middle", where, MIDDLES_PER_MAJOR)
    return MajorClass(
        name=name,
        name_en=_english(header["name_en"], f"{where}: major.name_en"),
        summary=_pair(header, "summary", f"{where}: major"),
        middles=tuple(
            _middle(_table(middle, f"{where}: middle[{i}]"), f"{where}: middle[{i}]")
            for i, middle in enumerate(middles)
        ),
    )


def _middle(table: dict[str, object], where: str) -> MiddleClass:
    _fields(table, where, required={"name", "name_en", "guide", "minor"})
    name = _korean(table["name"], f"{where}.name")
    where = f"{where} ({name})"
    minors = _array(table, "minor", where, MINORS_PER_MIDDLE)
    return MiddleClass(
        name=name,
        name_en=_english(table["name_en"], f"{where}.name_en"),
        guide=_guide(_table(table["guide"], f"{where}.guide"), f"{where}.guide"),
        minors=tuple(
            _minor(_table(minor, f"{where}.minor[{i}]"), f"{where}.minor[{i}]")
            for i, minor in enumerate(minors)
        ),
    )


def _guide(table: dict[str, object], where: str) -> Guide:
    _fields(table, where, required={"title", "title_en", "step", "caution", "not_accepted"})
    return Guide(
        title=_pair(table, "title", where),
        steps=tuple(_texts(table, "step", where, STEPS)),
        cautions=tuple(_texts(table, "caution", where, CAUTIONS)),
        not_accepted=tuple(
            NotAccepted(text.ko, text.en, goes_to)
            for text, goes_to in _redirects(table, "not_accepted", where, NOT_ACCEPTED)
        ),
    )


def _texts(table: dict[str, object], key: str, where: str, bounds: Bounds) -> list[Text]:
    texts = []
    for i, item in enumerate(_array(table, key, where, bounds)):
        here = f"{where}.{key}[{i}]"
        entry = _table(item, here)
        _fields(entry, here, required={"ko", "en"})
        texts.append(Text(_korean(entry["ko"], f"{here}.ko"), _english(entry["en"], f"{here}.en")))
    return texts


def _redirects(
    table: dict[str, object], key: str, where: str, bounds: Bounds
) -> list[tuple[Text, str | None]]:
    redirects = []
    for i, item in enumerate(_array(table, key, where, bounds)):
        here = f"{where}.{key}[{i}]"
        entry = _table(item, here)
        _fields(entry, here, required={"ko", "en"}, optional={"goes_to"})
        text = Text(_korean(entry["ko"], f"{here}.ko"), _english(entry["en"], f"{here}.en"))
        goes_to = entry.get("goes_to")
        redirects.append((text, None if goes_to is None else _korean(goes_to, f"{here}.goes_to")))
    return redirects


def _minor(table: dict[str, object], where: str) -> MinorClass:
    _fields(table, where, required={"name", "name_en", "prompts"})
    name = _korean(table["name"], f"{where}.name")
    where = f"{where} ({name})"
    prompts = []
    for i, item in enumerate(_array(table, "prompts", where, PROMPTS_PER_MINOR)):
        prompt = _english(item, f"{where}.prompts[{i}]")
        if not prompt.isascii() or len(prompt.split()) > _MAX_PROMPT_WORDS:
            raise TaxonomyError(
                f"{where}.prompts[{i}]: a prompt is plain ASCII English of at most "
                f"{_MAX_PROMPT_WORDS} words"
            )
        prompts.append(prompt)
    return MinorClass(
        name=name, name_en=_english(table["name_en"], f"{where}.name_en"), prompts=tuple(prompts)
    )


def _check_unique(taxonomy: Taxonomy) -> None:
    """Names are keys: of the API's paths, the classifier's labels, the prompts it compares."""
    labels = taxonomy.minors()
    middles = [middle for major in taxonomy.majors for middle in major.middles]
    _unique("major class name", (major.name for major in taxonomy.majors))
    _unique("major class English name", (major.name_en for major in taxonomy.majors))
    _unique("middle class name", (middle.name for middle in middles))
    _unique("middle class English name", (middle.name_en for middle in middles))
    _unique("minor class name", (label.minor.name for label in labels))
    _unique("minor class English name", (label.minor.name_en for label in labels))
    _unique("prompt", (prompt.lower() for label in labels for prompt in label.minor.prompts))


def _unique(what: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TaxonomyError(f"{what} {name!r} is used more than once")
        seen.add(name)


def _check_destinations(taxonomy: Taxonomy) -> None:
    names = {middle.name for major in taxonomy.majors for middle in major.middles}
    for major in taxonomy.majors:
        for middle in major.middles:
            for item in middle.guide.not_accepted:
                if item.goes_to is None:
                    continue
                if item.goes_to not in names:
                    raise TaxonomyError(
                        f"{middle.name}: not_accepted {item.ko!r} goes to {item.goes_to!r}, "
                        "which is not a middle class"
                    )
                if item.goes_to == middle.name:
                    raise TaxonomyError(
                        f"{middle.name}: not_accepted {item.ko!r} goes to its own class"
                    )


def _fields(
    table: dict[str, object],
    where: str,
    *,
    required: set[str],
    optional: Iterable[str] = (),
) -> None:
    missing = required - table.keys()
    if missing:
        raise TaxonomyError(f"{where}: missing {', '.join(sorted(missing))}")
    unknown = table.keys() - required - set(optional)
    if unknown:
        raise TaxonomyError(f"{where}: unknown field {', '.join(sorted(unknown))}")


def _table(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise TaxonomyError(f"{where}: expected a table")
    return value


def _array(table: dict[str, object], key: str, where: str, bounds: Bounds) -> list[object]:
    value = table[key]
    if not isinstance(value, list):
        raise TaxonomyError(f"{where}.{key}: expected an array")
    if not bounds.least <= len(value) <= bounds.most:
        raise TaxonomyError(
            f"{where}.{key}: needs {bounds.least} to {bounds.most} entries, has {len(value)}"
        )
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TaxonomyError(f"{where}: expected a non-empty string")
    if value != value.strip() or "\n" in value:
        raise TaxonomyError(f"{where}: one line, without surrounding whitespace")
    return value


def _korean(value: object, where: str) -> str:
    text = _string(value, where)
    if not _HANGUL_SYLLABLE.search(text):
        raise TaxonomyError(f"{where}: expected Korean text, found {text!r}")
    return text


def _english(value: object, where: str) -> str:
    text = _string(value, where)
    if _HANGUL.search(text):
        raise TaxonomyError(f"{where}: expected English text, found Korean in {text!r}")
    return text


def _pair(table: dict[str, object], key: str, where: str) -> Text:
    return Text(
        _korean(table[key], f"{where}.{key}"), _english(table[f"{key}_en"], f"{where}.{key}_en")
    )
