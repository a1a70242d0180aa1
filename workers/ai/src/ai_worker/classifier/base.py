from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
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

    @property
    def unsure_below(self) -> float | None:
        """The confidence below which this model's answers are unsure, where it was calibrated
        on held-out photos; None: BUNRI_UNSURE_BELOW or its default decides."""
        ...

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        """For each image, a probability for each class it considers (summing to about 1)."""
        ...


# A batch of images as the model's input: (images, channels, height, width), float32.
Pixels = NDArray[np.float32]


@runtime_checkable
class BatchableClassifier(Classifier, Protocol):
    """A local model whose work splits in two: `prepare` (decoding, resizing, normalising; per
    image, in the process that holds the image) and `infer` (one forward pass over any number
    of prepared images, which is what batching speeds up)."""

    def prepare(self, images: Sequence[Image.Image]) -> Pixels: ...

    def infer(self, pixels: Pixels) -> list[Scores]: ...


class ProcessorPrepared:
    """`prepare` and `classify` of a local model whose Hugging Face image processor makes its
    input; the model supplies `infer`."""

    _processor: Any

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return self.infer(self.prepare(images))

    def prepare(self, images: Sequence[Image.Image]) -> Pixels:
        pixels: Pixels = self._processor(images=list(images), return_tensors="np")["pixel_values"]
        return pixels

    def infer(self, pixels: Pixels) -> list[Scores]:
        raise NotImplementedError
