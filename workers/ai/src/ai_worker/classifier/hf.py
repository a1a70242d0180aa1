"""Any image-classification checkpoint, with a map from its labels to the taxonomy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ai_worker.classifier.base import ClassKey, ModelUnavailable, Pixels, ProcessorPrepared, Scores
from bunri.guides import UnknownClass, load_taxonomy


def read_label_map(path: Path) -> dict[str, ClassKey | None]:
    """`{"model label": "major/middle[/minor]" | null}`, each class checked against the taxonomy."""
    taxonomy = load_taxonomy()
    raw = json.loads(path.read_text("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a label map is a JSON object")
    mapped: dict[str, ClassKey | None] = {}
    for label, target in raw.items():
        if target is None:
            mapped[label] = None
            continue
        parts = str(target).split("/")
        if len(parts) not in (2, 3):
            raise ValueError(f"{path}: {label!r} → {target!r} is not 'major/middle[/minor]'")
        middle = taxonomy.middle(parts[0], parts[1])
        minor = parts[2] if len(parts) == 3 else None
        if minor is not None and minor not in {known.name for known in middle.minors}:
            raise UnknownClass(f"{path}: no minor class {minor!r} under {parts[1]!r}")
        mapped[label] = (parts[0], parts[1], minor)
    return mapped


class HuggingFaceClassifier(ProcessorPrepared):
    backend = "hf"
    unsure_below = None

    def __init__(
        self, model_id: str, label_map: Path, *, offline: bool, device: str = "cpu"
    ) -> None:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        try:
            self._model: Any = AutoModelForImageClassification.from_pretrained(
                model_id, local_files_only=offline
            )
            self._processor: Any = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                model_id, local_files_only=offline
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"No image-classification model could be loaded from {model_id!r} "
                f"({type(exc).__name__}). Set BUNRI_HF_MODEL to a folder holding one."
            ) from exc
        try:
            mapping = read_label_map(label_map)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(
                f"The label map {str(label_map)!r} is unusable: {exc}. Fix BUNRI_HF_LABEL_MAP."
            ) from exc
        labels = self._model.config.id2label
        unmapped = sorted(set(labels.values()) - set(mapping))
        if unmapped:
            raise ModelUnavailable(
                f"BUNRI_HF_LABEL_MAP does not say where these model labels go: {unmapped}"
            )
        self._keys = [mapping[labels[index]] for index in range(len(labels))]
        self.model_name = model_id
        self._device = torch.device(device)
        self._model.to(self._device).eval()

    @torch.inference_mode()
    def infer(self, pixels: Pixels) -> list[Scores]:
        tensor = torch.from_numpy(pixels).to(self._device)
        probabilities = self._model(pixel_values=tensor).logits.softmax(dim=-1).cpu().tolist()
        results = []
        for row in probabilities:
            scores: Scores = {}
            for key, probability in zip(self._keys, row, strict=True):
                if key is not None:
                    scores[key] = scores.get(key, 0.0) + probability
            results.append(scores)
        return results
