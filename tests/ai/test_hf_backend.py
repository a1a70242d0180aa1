"""The `hf` backend: any image-classification checkpoint plus a map from its labels to the
taxonomy, loaded through the factory as the AI worker loads it (a tiny ViT built here)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from ai_worker.classifier.base import BatchableClassifier, ModelUnavailable
from ai_worker.classifier.factory import load_classifier
from ai_worker.settings import AiWorkerSettings
from tests.support.models import build_tiny_image_classifier
from tests.support.pictures import photo


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_image_classifier(tmp_path_factory.mktemp("tiny-vit"))


def settings_for(model: Path, label_map: Path) -> AiWorkerSettings:
    return AiWorkerSettings(
        classifier_backend="hf", hf_model=str(model), hf_label_map=label_map, model_offline=True
    )


def pictures(count: int) -> list[Image.Image]:
    return [Image.open(io.BytesIO(photo(seed=seed))).convert("RGB") for seed in range(count)]


def test_scores_go_to_the_mapped_classes_and_the_ignored_label_is_dropped(
    tiny_vit: tuple[Path, Path],
) -> None:
    model, label_map = tiny_vit
    classifier = load_classifier(settings_for(model, label_map))
    assert classifier.backend == "hf"
    mapped = {value for value in json.loads(label_map.read_text()).values() if value is not None}
    [scores] = classifier.classify(pictures(1))
    assert {f"{major}/{middle}" for major, middle, _ in scores} == mapped
    # "background" maps to nothing: what is left sums to less than one, never more.
    assert 0 < sum(scores.values()) < 1


def test_a_batch_gives_each_image_what_it_gets_alone(tiny_vit: tuple[Path, Path]) -> None:
    model, label_map = tiny_vit
    classifier = load_classifier(settings_for(model, label_map))
    assert isinstance(classifier, BatchableClassifier)
    images = pictures(3)
    together = classifier.infer(classifier.prepare(images))
    for image, batched in zip(images, together, strict=True):
        [alone] = classifier.classify([image])
        assert alone.keys() == batched.keys()
        for key, value in alone.items():
            assert batched[key] == pytest.approx(value, abs=1e-5)


def test_a_label_the_map_does_not_place_makes_the_model_unavailable(
    tiny_vit: tuple[Path, Path], tmp_path: Path
) -> None:
    model, label_map = tiny_vit
    partial = json.loads(label_map.read_text())
    partial.pop("can")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps(partial, ensure_ascii=False))
    with pytest.raises(ModelUnavailable, match=r"BUNRI_HF_LABEL_MAP.*\['can'\]"):
        load_classifier(settings_for(model, incomplete))


def test_a_class_outside_the_taxonomy_makes_the_model_unavailable(
    tiny_vit: tuple[Path, Path], tmp_path: Path
) -> None:
    model, label_map = tiny_vit
    wrong = json.loads(label_map.read_text()) | {"can": "재활용폐기물/no such class"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(wrong, ensure_ascii=False))
    with pytest.raises(ModelUnavailable, match="BUNRI_HF_LABEL_MAP"):
        load_classifier(settings_for(model, bad))


def test_a_folder_without_a_model_names_the_setting(tmp_path: Path) -> None:
    label_map = tmp_path / "map.json"
    label_map.write_text("{}")
    with pytest.raises(ModelUnavailable, match="BUNRI_HF_MODEL"):
        load_classifier(settings_for(tmp_path / "empty", label_map))
