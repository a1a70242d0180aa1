"""Real labelled waste photos (TrashNet) for the tests that need them, read from where the
machine keeps them (BUNRI_TRASHNET_DIR, default ../shared/data/trashnet beside the repository);
never copied into the repository."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ai_worker.models import TRASHNET_TAXONOMY_MAP

REPOSITORY = Path(__file__).resolve().parents[2]
TRASHNET_DIR = Path(
    os.environ.get("BUNRI_TRASHNET_DIR", REPOSITORY.parent / "shared" / "data" / "trashnet")
)
TEST_LIST = "splits/one-indexed-files-notrash_test.txt"


def trashnet_dir() -> Path:
    """The photos' folder, or the test is skipped saying where they were looked for."""
    if not (TRASHNET_DIR / TEST_LIST).is_file():
        pytest.skip(f"no TrashNet photos at {TRASHNET_DIR} (set BUNRI_TRASHNET_DIR)")
    return TRASHNET_DIR


def held_out_photos(per_class: int) -> list[tuple[Path, str]]:
    """The first `per_class` photos of each class in the dataset authors' test list (photos
    the shipped model never trained on), with their class."""
    root = trashnet_dir()
    chosen: dict[str, list[Path]] = {}
    for line in (root / TEST_LIST).read_text("utf-8").splitlines():
        if not line.strip():
            continue
        name = line.split()[0]
        label = re.sub(r"\d+\.jpg$", "", name)  # "glass123.jpg" is a glass photo
        if len(chosen.setdefault(label, [])) < per_class:
            chosen[label].append(root / label / name)
    return [(path, label) for label, paths in sorted(chosen.items()) for path in paths]


def expected_middle(label: str) -> tuple[str, str]:
    """(major, middle) of the taxonomy where a TrashNet class belongs."""
    target: str = json.loads(TRASHNET_TAXONOMY_MAP.read_text("utf-8"))[label]
    major, middle = target.split("/")[:2]
    return major, middle


# TrashNet's `trash` folder is largely clear plastic film and snack wrappers, which Korean rules
# sort as 비닐류, not as general waste: for those photos both answers are right.
FILM = ("재활용폐기물", "비닐류")


def right_middles(label: str) -> set[tuple[str, str]]:
    """The (major, middle) answers that are right for a photo of a TrashNet class."""
    return {expected_middle(label), FILM} if label == "trash" else {expected_middle(label)}
