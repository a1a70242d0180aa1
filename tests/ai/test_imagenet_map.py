"""The reviewed ImageNet → taxonomy map: every entry lands on a real class of the taxonomy, with a
reason, and the everyday kinds of waste that the waste head has no photos of are covered."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ai_worker.classifier.imagenet_map import IMAGENET_MAP, read_imagenet_map

# The everyday kinds of waste a person photographs, and the middle classes that answer them.
# Paper cartons (종이팩) are not here: ImageNet-1k has no class for milk or drink cartons (its
# "carton" is a corrugated box), so nothing can be mapped there honestly.
MUST_COVER = {
    "aluminium cans and scrap metal": {"금속류"},
    "glass bottles": {"유리병"},
    "paper and cardboard": {"종이"},
    "plastic bottles and containers": {"플라스틱류", "무색페트병"},
    "plastic film": {"비닐류"},
    "clothes and textiles": {"의류및원단"},
    "food waste": {"음식물쓰레기"},
    "wood (furniture)": {"가구"},
    "furniture": {"가구"},
    "appliances": {"전기전자제품"},
}


def test_every_entry_goes_to_a_real_taxonomy_class_with_a_reason() -> None:
    mapped = read_imagenet_map()
    assert mapped.version >= 1
    assert len(mapped.keys) >= 150
    raw = tomllib.loads(IMAGENET_MAP.read_text("utf-8"))["class"]
    indices = [entry["index"] for entry in raw]
    assert indices == sorted(indices), "entries are sorted by index, each once"
    assert all(entry["why"].strip().endswith((".", ")")) for entry in raw)


@pytest.mark.parametrize(("kind", "middles"), MUST_COVER.items())
def test_the_everyday_kinds_of_waste_are_covered(kind: str, middles: set[str]) -> None:
    covered = {key[1] for key in read_imagenet_map().keys.values()}
    assert covered & middles, f"nothing in the ImageNet map answers {kind}"


def test_entries_that_are_not_in_the_taxonomy_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "map.toml"
    broken.write_text(
        'version = 1\n[[class]]\nindex = 954\nname = "banana"\n'
        'goes_to = "음식물류폐기물/과일"\nwhy = "Peel."\n',
        "utf-8",
    )
    with pytest.raises(KeyError):
        read_imagenet_map(broken)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('index = 1000\nname = "x"\ngoes_to = "재활용폐기물/종이"\nwhy = "x."', "out of range"),
        ('index = 549\nname = "envelope"\ngoes_to = "재활용폐기물/종이"\nwhy = " "', "no reason"),
        (
            'index = 549\nname = "envelope"\ngoes_to = "재활용폐기물/종이/봉투"\nwhy = "x."',
            "no minor class",
        ),
    ],
)
def test_malformed_entries_are_refused(tmp_path: Path, entry: str, problem: str) -> None:
    broken = tmp_path / "map.toml"
    broken.write_text(f"version = 1\n[[class]]\n{entry}\n", "utf-8")
    with pytest.raises(ValueError, match=problem):
        read_imagenet_map(broken)
