"""The model the AI worker ships as its default: small, self-describing, right on real photos it
never trained on, and unsure of images that show nothing it knows (the full figures:
bench/results/local-model/report.md)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from ai_worker.classifier.local import LocalClassifier
from ai_worker.classifier.model_file import read_metadata
from ai_worker.models import BUNDLED_MODEL
from ai_worker.results import build_result
from bunri.guides import load_taxonomy
from tests.support.trashnet import held_out_photos, right_middles


def test_the_shipped_model_is_small_and_says_what_it_knows() -> None:
    assert BUNDLED_MODEL.stat().st_size <= 25 * 1024 * 1024
    metadata = read_metadata(BUNDLED_MODEL)
    assert metadata.architecture == "efficientnet-lite0"
    assert metadata.classes == (
        "cardboard",
        "film",
        "glass",
        "metal",
        "paper",
        "plastic",
        "trash",
    )
    assert 0 < metadata.unsure_below < 1
    assert BUNDLED_MODEL.with_suffix(".md").is_file()


def test_the_shipped_model_sorts_held_out_trashnet_photos() -> None:
    photos = held_out_photos(per_class=10)
    classifier = LocalClassifier(BUNDLED_MODEL)
    pictures = []
    for path, _ in photos:
        with Image.open(path) as opened:
            pictures.append(ImageOps.exif_transpose(opened).convert("RGB"))
    right = 0
    for scores, (_, label) in zip(classifier.classify(pictures), photos, strict=True):
        middles: dict[tuple[str, str], float] = {}
        for key, probability in scores.items():
            middles[key[:2]] = middles.get(key[:2], 0.0) + probability
        right += max(middles, key=middles.__getitem__) in right_middles(label)
    # Cardboard and paper share a middle class; the test split's own top-1 is in the report.
    assert right / len(photos) >= 0.9, f"{right} of {len(photos)}"


def test_images_of_nothing_it_knows_come_back_unsure() -> None:
    generator = np.random.default_rng(0)
    nothing = [
        Image.fromarray(generator.integers(0, 256, (300, 400, 3), np.uint8)),  # noise
        Image.new("RGB", (400, 300), (128, 128, 128)),  # a grey wall
        Image.new("RGB", (400, 300), (20, 90, 30)),  # a green field
        Image.fromarray(  # a sky
            np.linspace((40, 90, 200), (200, 220, 250), 300)
            .astype(np.uint8)[:, None]
            .repeat(400, 1)
        ),
    ]
    classifier = LocalClassifier(BUNDLED_MODEL)
    for scores in classifier.classify(nothing):
        result = build_result(
            scores,
            load_taxonomy(),
            backend="local",
            model_name="shipped",
            unsure_below=classifier.unsure_below,
        )
        assert result["classification"]["unsure"], result["classification"]
