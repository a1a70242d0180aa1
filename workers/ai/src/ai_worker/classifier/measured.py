"""Any classifier, measured: how long each call to the model takes and how many images it got."""

from __future__ import annotations

import time
from collections.abc import Sequence

from PIL import Image
from prometheus_client import Histogram

from ai_worker.classifier.base import Classifier, Scores

MODEL_INFERENCE_SECONDS = Histogram(
    "bunri_model_inference_seconds",
    "Time one call to the classifier took (a forward pass, or the request to a remote model).",
    ["backend"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
MODEL_BATCH_SIZE = Histogram(
    "bunri_model_batch_size",
    "Images per call to the classifier.",
    ["backend"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


def observe_inference(backend: str, started: float, images: int) -> None:
    """One call to the model, begun at `started` (perf_counter), over `images` images."""
    MODEL_INFERENCE_SECONDS.labels(backend).observe(time.perf_counter() - started)
    MODEL_BATCH_SIZE.labels(backend).observe(images)


class MeasuredClassifier:
    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier
        self.backend = classifier.backend
        self.model_name = classifier.model_name
        self.unsure_below = classifier.unsure_below

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        started = time.perf_counter()
        scores = self._classifier.classify(images)
        observe_inference(self.backend, started, len(images))
        return scores
