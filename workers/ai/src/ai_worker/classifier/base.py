from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PIL import Image

# (major, middle, minor): a backend that only knows middle classes leaves the minor out.
ClassKey = tuple[str, str, str | None]
Scores = dict[ClassKey, float]


class ModelUnavailable(Exception):
    """The configured model cannot be loaded or reached. Scans fail with `model_unavailable`
    and this message, which names the setting to change; never a made-up answer."""

    code = "model_unavailable"


class Classifier(Protocol):
    backend: str
    model_name: str

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        """For each image, a probability for each class it considers (summing to about 1)."""
        ...
