"""Zero-shot CLIP: each minor class is described by a few prompts; an image belongs to the class
whose averaged prompt embedding is closest to the image's embedding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ai_worker.classifier.base import ClassKey, ModelUnavailable, Pixels, ProcessorPrepared, Scores
from bunri.guides import load_taxonomy


class ClipClassifier(ProcessorPrepared):
    backend = "clip"
    unsure_below = None

    def __init__(self, model_id: str, *, offline: bool, device: str = "cpu") -> None:
        from transformers import CLIPModel, CLIPProcessor

        try:
            model: Any = CLIPModel.from_pretrained(model_id, local_files_only=offline)
            processor: Any = CLIPProcessor.from_pretrained(model_id, local_files_only=offline)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"No CLIP model could be loaded from {model_id!r} ({type(exc).__name__}). Set "
                "BUNRI_CLIP_MODEL to a folder holding a CLIP checkpoint (or a reachable hub id), "
                "or choose another BUNRI_CLASSIFIER_BACKEND."
            ) from exc
        self.model_name = model_id
        self._device = torch.device(device)
        self._model: Any = model.to(self._device).eval()
        self._processor: Any = processor
        labels = load_taxonomy().minors()
        self._keys: list[ClassKey] = [
            (label.major.name, label.middle.name, label.minor.name) for label in labels
        ]
        self._class_embeddings = self._embed_prompts([label.minor.prompts for label in labels])

    @torch.inference_mode()
    def _embed_prompts(self, prompts_per_class: Sequence[Sequence[str]]) -> torch.Tensor:
        """One unit vector per class: the normalized mean of its prompts' embeddings (CLIP's
        prompt ensembling)."""
        flat = [prompt for prompts in prompts_per_class for prompt in prompts]
        inputs = self._processor(text=flat, return_tensors="pt", padding=True, truncation=True)
        features = _normalized(self._model.get_text_features(**inputs.to(self._device)))
        per_class, start = [], 0
        for prompts in prompts_per_class:
            per_class.append(_normalized(features[start : start + len(prompts)].mean(dim=0)))
            start += len(prompts)
        return torch.stack(per_class)

    @torch.inference_mode()
    def infer(self, pixels: Pixels) -> list[Scores]:
        tensor = torch.from_numpy(pixels).to(self._device)
        image_features = _normalized(self._model.get_image_features(pixel_values=tensor))
        logits = self._model.logit_scale.exp() * image_features @ self._class_embeddings.T
        probabilities = logits.softmax(dim=-1).cpu().tolist()
        return [dict(zip(self._keys, row, strict=True)) for row in probabilities]


def _normalized(features: Any) -> torch.Tensor:
    # Newer transformers return a model output holding the projected features, older a tensor.
    tensor: torch.Tensor = getattr(features, "pooler_output", features)
    normalized: torch.Tensor = tensor / tensor.norm(dim=-1, keepdim=True)
    return normalized
