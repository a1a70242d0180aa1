"""`bunri train` and `bunri evaluate` end to end on a small dataset the test makes (photos of
three colours), the model file the AI worker loads, and the calibration arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

from ai_worker.classifier.base import ModelUnavailable
from ai_worker.classifier.local import LocalClassifier
from ai_worker.classifier.model_file import read_metadata
from ai_worker.models import TRASHNET_RELABEL
from ai_worker.training.augment import Augmentation, augment
from ai_worker.training.calibration import (
    expected_calibration_error,
    fit_temperature,
    unsure_threshold,
)
from ai_worker.training.data import DatasetError, discover, read_relabel
from ai_worker.training.efficientnet import EfficientNetLite
from bunri_programs.cli import add_installed_commands, app
from tests.support.trashnet import trashnet_dir

add_installed_commands()  # as `bunri` does when it runs: `train` and `evaluate` come from ai_worker

COLOURS = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 200)}
TAXONOMY = {
    "red": "재활용폐기물/금속류",
    "green": "재활용폐기물/유리병",
    "blue": "재활용폐기물/종이",
}


def coloured(colour: tuple[int, int, int], seed: int) -> Image.Image:
    noise = np.random.default_rng(seed).normal(0, 25, (48, 64, 3))
    return Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype("uint8"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colours")
    # Weights for the backbone, as if pretrained: the test's own, made at random.
    torch.manual_seed(0)
    torch.save(EfficientNetLite("efficientnet-lite0").state_dict(), root / "backbone.pth")
    for index, (name, colour) in enumerate(COLOURS.items()):
        (root / "data" / name).mkdir(parents=True)
        for number in range(20):
            coloured(colour, seed=index * 100 + number).save(root / "data" / name / f"{number}.jpg")
    (root / "map.json").write_text(json.dumps(TAXONOMY, ensure_ascii=False), "utf-8")
    return root


def train(data: Path, taxonomy_map: Path, output: Path, *options: str) -> Result:
    """`bunri train` through its CLI, on the test's own backbone weights; the photos are flat
    colours, not items on a board, so they are not laid in scenes."""
    command = ["train", "--data", str(data), "--taxonomy-map", str(taxonomy_map)]
    weights = ["--backbone-weights", str(data.parent / "backbone.pth"), "--no-studio"]
    return CliRunner().invoke(app, [*command, *weights, "--output", str(output), *options])


@pytest.fixture(scope="module")
def trained(dataset: Path) -> Path:
    model = dataset / "model" / "colours.safetensors"
    result = train(
        dataset / "data",
        dataset / "map.json",
        model,
        "--epochs",
        "4",
        "--image-size",
        "32",
        "--batch-size",
        "8",
    )
    assert result.exit_code == 0, result.output
    return model


def test_training_writes_a_model_the_worker_loads_and_a_card_beside_it(trained: Path) -> None:
    metadata = read_metadata(trained)
    assert metadata.classes == ("blue", "green", "red")  # the folders, sorted
    assert metadata.taxonomy == {name: TAXONOMY[name] for name in metadata.classes}
    assert metadata.architecture == "efficientnet-lite0"
    assert 0.25 <= metadata.waste_temperature <= 10
    assert metadata.distance[1] < 0 < metadata.energy[1]  # a distance is typical when low
    card = trained.with_suffix(".md").read_text("utf-8")
    assert "ImageNet-pretrained" in card
    assert "stratified by class, seed 0" in card  # no split lists in this data: a seeded split
    assert "| red | 재활용폐기물/금속류 |" in card

    classifier = LocalClassifier(trained)
    (scores,) = classifier.classify([coloured(COLOURS["red"], seed=999)])
    assert max(scores, key=scores.__getitem__) == ("재활용폐기물", "금속류", None)
    assert 0 < sum(scores.values()) <= 1 + 1e-5  # what is missing is "none of these"
    assert classifier.unsure_below == metadata.unsure_below


def test_evaluation_reports_accuracy_calibration_speed_and_the_confusion_matrix(
    dataset: Path, trained: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(dataset / "data"),
            "--model",
            str(trained),
            "--report",
            str(tmp_path),
            "--precision",
            "float32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "top-1" in result.output
    report = (tmp_path / "report.md").read_text("utf-8")
    for measure in (
        "top-1 accuracy",
        "top-3 accuracy",
        "expected calibration error",
        "unsure below",
        "laid in held-out scenes",
        "How often a sure answer is right",
        "Photos of nothing it knows",
        "agreement with the pretrained network",
        "one photo on one CPU thread",
        "threads, onnx, float32 | ",  # what the speed was measured on
        "images/s",
        "| red |",
        "confusion.png",
    ):
        assert measure in report
    with Image.open(tmp_path / "confusion.png") as picture:
        assert picture.format == "PNG"


def test_training_refuses_a_class_the_map_does_not_place(dataset: Path, tmp_path: Path) -> None:
    partial = tmp_path / "map.json"
    partial.write_text(json.dumps({"red": TAXONOMY["red"]}), "utf-8")
    result = train(dataset / "data", partial, tmp_path / "m.safetensors", "--epochs", "1")
    assert result.exit_code == 2
    assert "does not say where these classes go" in result.output
    assert not (tmp_path / "m.safetensors").exists()


def test_a_missing_or_broken_model_file_names_the_setting(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    for path in (tmp_path / "absent.safetensors", broken):
        with pytest.raises(ModelUnavailable, match="BUNRI_LOCAL_MODEL"):
            LocalClassifier(path)


def test_temperature_scaling_recovers_an_overconfident_models_temperature() -> None:
    generator = torch.Generator().manual_seed(0)
    honest = torch.randn(20_000, 5, generator=generator) * 2
    labels = torch.multinomial(honest.softmax(1), 1, generator=generator).squeeze(1)
    overconfident = honest * 3
    assert fit_temperature(overconfident, labels) == pytest.approx(3.0, rel=0.1)
    assert expected_calibration_error(honest.softmax(1), labels) < 0.02
    assert expected_calibration_error(overconfident.softmax(1), labels) > 0.1


def test_answers_above_the_unsure_threshold_are_right_often_enough() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(5_000, 4, generator=generator) * 2
    probabilities = logits.softmax(1)
    labels = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
    threshold = unsure_threshold(probabilities, labels, precision=0.9)
    confidence, predicted = probabilities.max(1)
    sure = confidence >= threshold
    assert 0 < sure.float().mean() < 1
    assert (predicted[sure] == labels[sure]).float().mean() >= 0.9


def test_augmentation_is_reproducible_and_keeps_the_batch_shape() -> None:
    images = torch.rand(4, 3, 40, 40)
    first = augment(images, 32, Augmentation(), torch.Generator().manual_seed(3))
    again = augment(images, 32, Augmentation(), torch.Generator().manual_seed(3))
    assert first.shape == (4, 3, 32, 32)
    assert first.dtype == torch.float32
    assert torch.equal(first, again)


def test_a_relabel_trains_named_photos_under_another_class(dataset: Path, tmp_path: Path) -> None:
    relabel = tmp_path / "relabel.toml"
    relabel.write_text('[purple]\nphotos = ["red/0.jpg", "blue/1.jpg"]\n', "utf-8")
    found = discover(dataset / "data", read_relabel(relabel))
    assert found.classes == ("blue", "green", "purple", "red")
    moved = [s.path.relative_to(dataset / "data") for s in found.samples if s.label == 2]
    assert sorted(map(str, moved)) == ["blue/1.jpg", "red/0.jpg"]
    assert len(found.samples) == 60


def test_a_relabel_naming_a_photo_that_is_not_there_is_refused(
    dataset: Path, tmp_path: Path
) -> None:
    relabel = tmp_path / "relabel.toml"
    relabel.write_text('[purple]\nphotos = ["red/99.jpg"]\n', "utf-8")
    with pytest.raises(DatasetError, match="no photos"):
        discover(dataset / "data", read_relabel(relabel))
    relabel.write_text('[purple]\nphotos = ["red/0.jpg"]\n[grey]\nphotos = ["red/0.jpg"]\n')
    with pytest.raises(DatasetError, match="more than one class"):
        read_relabel(relabel)


def test_trashnets_relabel_names_real_trash_photos() -> None:
    relabel = read_relabel(TRASHNET_RELABEL)
    assert set(relabel.values()) == {"film"}
    assert all(photo.startswith("trash/") for photo in relabel)
    found = discover(trashnet_dir(), relabel)
    assert found.classes == ("cardboard", "film", "glass", "metal", "paper", "plastic", "trash")
    assert sum(sample.label == 1 for sample in found.samples) == len(relabel)
