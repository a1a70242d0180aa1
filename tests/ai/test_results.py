"""The AI worker's `result` is the contract scan-api answers with (bunri.scans.result): built
from any classifier's scores, it validates against that schema field for field."""

from __future__ import annotations

import random

import pytest

from ai_worker.classifier.base import ClassKey
from ai_worker.results import build_result
from bunri.guides import load_taxonomy
from bunri.scans.result import MAX_ALTERNATIVES, ScanResult


def every_class() -> list[ClassKey]:
    keys: list[ClassKey] = []
    for major in load_taxonomy().majors:
        for middle in major.middles:
            keys.append((major.name, middle.name, None))
            keys += [(major.name, middle.name, minor.name) for minor in middle.minors]
    return keys


@pytest.mark.parametrize("seed", range(20))
def test_the_result_of_any_scores_is_the_schemas(seed: int) -> None:
    generator = random.Random(seed)
    chosen = generator.sample(every_class(), generator.randint(1, 12))
    weights = [generator.random() for _ in chosen]
    # Scores may leave a share to "none of these": they sum to at most one.
    total = sum(weights) / generator.uniform(0.3, 1.0)
    scores = {key: weight / total for key, weight in zip(chosen, weights, strict=True)}
    result = build_result(
        scores, load_taxonomy(), backend="local", model_name="m", unsure_below=0.6
    )
    parsed = ScanResult.model_validate(result)
    assert parsed.model_dump(mode="json") == result  # nothing extra, nothing missing
    assert len(parsed.classification.alternatives) <= MAX_ALTERNATIVES
    middles = {(key[0], key[1]) for key in chosen}
    assert (parsed.classification.major, parsed.classification.middle) in middles


def test_a_share_left_to_none_of_these_makes_the_answer_unsure() -> None:
    paper: ClassKey = ("재활용폐기물", "종이", None)
    metal: ClassKey = ("재활용폐기물", "금속류", None)
    result = build_result(
        {paper: 0.3, metal: 0.1},
        load_taxonomy(),
        backend="local",
        model_name="m",
        unsure_below=0.5,
    )
    classification = result["classification"]
    assert (classification["middle"], classification["unsure"]) == ("종이", True)
    assert classification["alternatives"][0]["middle"] == "금속류"
