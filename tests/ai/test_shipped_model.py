"""The model the AI worker ships as its default: small, self-describing, and right on real
photos it never trained on (the full figures: bench/results/local-model/report.md)."""

from __future__ import annotations

from PIL import Image, ImageOps

from ai_worker.classifier.local import LocalClassifier, read_metadata
from ai_worker.models import BUNDLED_MODEL
from tests.support.trashnet import expected_middle, held_out_photos


def test_the_shipped_model_is_small_and_says_what_it_knows() -> None:
    assert BUNDLED_MODEL.stat().st_size <= 15 * 1024 * 1024
    metadata = read_metadata(BUNDLED_MODEL)
    assert metadata.classes == ("cardboard", "glass", "metal", "paper", "plastic", "trash")
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
        best = max(scores, key=scores.__getitem__)
        right += best[:2] == expected_middle(label)
    # Cardboard and paper share a middle class; the test split's own top-1 is in the report.
    assert right / len(photos) >= 0.8, f"{right} of {len(photos)}"
