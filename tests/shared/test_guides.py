"""The taxonomy and guide data shipped in `bunri.guides`, and the checks that guard its edits."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from bunri.errors import NotFound
from bunri.guides import (
    MiddleClass,
    NotAccepted,
    TaxonomyError,
    Text,
    UnknownClass,
    load_taxonomy,
    load_taxonomy_from,
)

MAJORS = [
    "재활용폐기물",
    "일반종량제폐기물",
    "불연성종량제폐기물",
    "음식물류폐기물",
    "대형폐기물",
    "생활계유해폐기물",
]
RECYCLABLE_MIDDLES = [
    "종이",
    "종이팩",
    "무색페트병",
    "플라스틱류",
    "비닐류",
    "발포합성수지",
    "유리병",
    "금속류",
    "의류및원단",
    "전지",
    "조명제품",
    "전기전자제품",
]
GUIDE_KEYS = {
    "title",
    "title_en",
    "steps",
    "steps_en",
    "cautions",
    "cautions_en",
    "not_accepted",
    "not_accepted_en",
}
HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")

TAXONOMY = load_taxonomy()
MIDDLES = [middle for major in TAXONOMY.majors for middle in major.middles]


def is_korean(text: str) -> bool:
    return text == text.strip() and bool(HANGUL.search(text))


def is_english(text: str) -> bool:
    # English texts may hold typography such as arrows; prompts are held to plain ASCII below.
    return text == text.strip() and not HANGUL.search(text) and any(c.isalpha() for c in text)


def test_the_shipped_data_is_found_as_a_package_resource_and_loaded_once() -> None:
    data = resources.files("bunri.guides") / "data"
    assert (data / "taxonomy.toml").is_file()
    assert load_taxonomy() is load_taxonomy()


def test_the_six_major_classes_in_order() -> None:
    assert [major.name for major in TAXONOMY.majors] == MAJORS
    assert all(is_english(major.name_en) for major in TAXONOMY.majors)


def test_the_twelve_recyclable_middle_classes_in_order() -> None:
    recyclable = TAXONOMY.major("재활용폐기물")
    assert [middle.name for middle in recyclable.middles] == RECYCLABLE_MIDDLES


def test_every_other_major_has_one_to_three_middle_classes() -> None:
    for major in TAXONOMY.majors[1:]:
        assert 1 <= len(major.middles) <= 3, major.name


@pytest.mark.parametrize("middle", MIDDLES, ids=[middle.name_en for middle in MIDDLES])
def test_every_middle_class_has_a_bilingual_guide_within_bounds(middle: MiddleClass) -> None:
    guide = middle.guide
    assert is_english(middle.name_en)
    assert is_korean(guide.title.ko)
    assert is_english(guide.title.en)
    assert 3 <= len(guide.steps) <= 6
    assert 2 <= len(guide.cautions) <= 5
    assert 2 <= len(guide.not_accepted) <= 6
    texts: list[Text | NotAccepted] = [*guide.steps, *guide.cautions, *guide.not_accepted]
    for text in texts:
        assert is_korean(text.ko), text
        assert is_english(text.en), text
    assert 2 <= len(middle.minors) <= 6
    for minor in middle.minors:
        assert is_korean(minor.name)
        assert is_english(minor.name_en)


def test_names_are_unique_across_the_taxonomy() -> None:
    middles = [middle.name for middle in MIDDLES]
    minors = [label.minor.name for label in TAXONOMY.minors()]
    assert len(set(middles)) == len(middles)
    assert len(set(minors)) == len(minors)
    assert len({middle.name_en for middle in MIDDLES}) == len(middles)
    assert len({label.minor.name_en for label in TAXONOMY.minors()}) == len(minors)


def test_minor_prompts_are_distinct_english_photo_descriptions() -> None:
    prompts = [prompt for label in TAXONOMY.minors() for prompt in label.minor.prompts]
    for label in TAXONOMY.minors():
        assert 2 <= len(label.minor.prompts) <= 4, label.minor.name
        for prompt in label.minor.prompts:
            assert is_english(prompt), prompt
            assert prompt.isascii(), prompt
            assert prompt.startswith("a photo of "), prompt
    assert len({prompt.lower() for prompt in prompts}) == len(prompts)


def test_not_accepted_items_point_to_other_middle_classes() -> None:
    names = {middle.name for middle in MIDDLES}
    for middle in MIDDLES:
        for item in middle.guide.not_accepted:
            assert item.goes_to is None or item.goes_to in names - {middle.name}, item


def test_minors_is_the_flat_label_space_in_a_stable_order() -> None:
    labels = TAXONOMY.minors()
    assert len(labels) == sum(len(middle.minors) for middle in MIDDLES)
    first = labels[0]
    assert (first.major.name, first.middle.name, first.minor.name) == (
        "재활용폐기물",
        "종이",
        "신문지",
    )
    assert [label.minor.name for label in labels] == [
        minor.name for middle in MIDDLES for minor in middle.minors
    ]
    again = load_taxonomy_from(resources.files("bunri.guides") / "data").minors()
    assert [label.minor.name for label in again] == [label.minor.name for label in labels]
    bottle = next(label for label in labels if label.minor.name == "생수병")
    assert (bottle.major.name, bottle.middle.name) == ("재활용폐기물", "무색페트병")


def test_a_guide_renders_the_documented_api_shape() -> None:
    body = TAXONOMY.middle("재활용폐기물", "무색페트병").guide.as_api()
    assert set(body) == GUIDE_KEYS
    assert is_korean(body["title"])
    assert is_english(body["title_en"])
    for korean, english in (
        (body["steps"], body["steps_en"]),
        (body["cautions"], body["cautions_en"]),
        (body["not_accepted"], body["not_accepted_en"]),
    ):
        assert isinstance(korean, list)
        assert isinstance(english, list)
        assert len(korean) == len(english) > 0
        assert all(is_korean(text) for text in korean)
        assert all(is_english(text) for text in english)
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body


def test_the_whole_taxonomy_renders_for_the_guides_endpoint() -> None:
    body = TAXONOMY.as_api()
    assert list(body) == ["majors"]
    assert [major["name"] for major in body["majors"]] == MAJORS
    for major in body["majors"]:
        assert set(major) == {"name", "name_en", "summary", "summary_en", "middles"}
        assert is_korean(major["summary"])
        assert is_english(major["summary_en"])
        for middle in major["middles"]:
            assert set(middle) == {"name", "name_en", "minors"}
            assert middle["minors"]
            assert all(set(minor) == {"name", "name_en"} for minor in middle["minors"])
    recyclable = body["majors"][0]
    assert [middle["name"] for middle in recyclable["middles"]] == RECYCLABLE_MIDDLES
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body


@pytest.mark.parametrize(
    ("major", "middle", "message"),
    [
        ("재활용품", "종이", "Unknown major class '재활용품'"),
        ("재활용폐기물", "플라스틱", "Unknown middle class '플라스틱' under '재활용폐기물'"),
        ("음식물류폐기물", "종이", "Unknown middle class '종이'"),
    ],
)
def test_an_unknown_class_raises_unknown_class(major: str, middle: str, message: str) -> None:
    with pytest.raises(UnknownClass, match=re.escape(message)) as caught:
        TAXONOMY.middle(major, middle)
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, NotFound)
    assert caught.value.status_code == 404
    assert str(caught.value) == caught.value.detail


def test_a_copy_of_the_data_loads_through_the_same_validation(tmp_path: Path) -> None:
    directory = copy_data(tmp_path)
    assert load_taxonomy_from(directory) == TAXONOMY


def copy_data(tmp_path: Path) -> Path:
    with resources.as_file(resources.files("bunri.guides") / "data") as source:
        return Path(shutil.copytree(source, tmp_path / "data"))


def first(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def drop_step(start: str) -> Callable[[str], str]:
    return first(f'[[middle.guide.step]]\nko = "{start}', '[[middle.guide.dropped]]\nko = "')


def without_dropped(text: str) -> str:
    return re.sub(r"\[\[middle\.guide\.dropped\]\]\nko = .*\nen = .*\n", "", text)


BROKEN = {
    "not toml": (lambda text: text + "\n[[middle\n", "not valid TOML"),
    "missing English": (
        first('title_en = "Flatten paper', 'subtitle = "Flatten'),
        "missing title_en",
    ),
    "unknown field": (
        first('name_en = "Paper"\n', 'name_en = "Paper"\nnote = "typo"\n'),
        "unknown field note",
    ),
    "Korean in English": (first('name_en = "Paper"', 'name_en = "종이류"'), "expected English"),
    "English in Korean": (first('name = "신문지"', 'name = "Newspaper"'), "expected Korean"),
    "empty text": (first('name = "신문지"', 'name = ""'), "expected a non-empty string"),
    "too few steps": (
        lambda text: without_dropped(drop_step("제품에서 뺄 수 있는")(text)),
        "guide.step: needs 3 to 6 entries, has 2",
    ),
    "duplicate middle": (first('name = "종이팩"', 'name = "종이"'), "middle class name '종이'"),
    "duplicate minor": (first('name = "청바지"', 'name = "티셔츠"'), "minor class name '티셔츠'"),
    "duplicate prompt": (
        first('"a photo of an empty beer can"', '"a photo of a crushed aluminium soda can"'),
        "prompt 'a photo of a crushed aluminium soda can' is used more than once",
    ),
    "Korean prompt": (
        first('"a photo of an empty beer can"', '"맥주 캔 사진"'),
        "expected English",
    ),
    "unknown destination": (
        first('goes_to = "종이팩"', 'goes_to = "종이팩류"'),
        "'종이팩류', which is not a middle class",
    ),
    "own destination": (
        first('goes_to = "플라스틱류"', 'goes_to = "종이팩"'),
        "goes to its own class",
    ),
}


@pytest.mark.parametrize(("edit", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_validation_refuses_a_broken_document(
    tmp_path: Path, edit: Callable[[str], str], message: str
) -> None:
    directory = copy_data(tmp_path)
    path = directory / "recyclable.toml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(TaxonomyError, match=re.escape(message)):
        load_taxonomy_from(directory)


def test_validation_refuses_an_index_naming_a_missing_file(tmp_path: Path) -> None:
    directory = copy_data(tmp_path)
    index = directory / "taxonomy.toml"
    index.write_text('majors = ["recyclable", "nowhere"]\n', encoding="utf-8")
    with pytest.raises(TaxonomyError, match=re.escape("nowhere.toml: no such file")):
        load_taxonomy_from(directory)
