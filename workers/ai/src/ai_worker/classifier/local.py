"""The self-trained classifier (`bunri train`): a compact CNN in one safetensors file whose
metadata says everything needed to use it (architecture, classes and where each goes in the
taxonomy, input size, the temperature that calibrates its confidence and the confidence below
which it is unsure), so the file alone is the model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ai_worker.classifier.base import ClassKey, ModelUnavailable, Pixels, Scores
from ai_worker.classifier.precision import inference_dtype
from ai_worker.settings import Precision
from ai_worker.training.augment import resize
from ai_worker.training.data import square, to_tensor
from ai_worker.training.network import build_network, fold_batch_norms
from bunri.guides import load_taxonomy

METADATA_KEY = "bunri.model"


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    architecture: str
    classes: tuple[str, ...]
    # Each class → "major/middle" or "major/middle/minor" of the taxonomy.
    taxonomy: dict[str, str]
    stored_size: int  # the photo is squeezed to this square first (as in training)...
    image_size: int  # ...then resized to the network's input
    temperature: float = 1.0  # logits / temperature give calibrated probabilities
    unsure_below: float = 0.5  # calibrated on the validation split
    extra: dict[str, object] = field(default_factory=dict)  # the model card's facts

    def class_keys(self) -> list[ClassKey]:
        taxonomy = load_taxonomy()
        keys: list[ClassKey] = []
        for name in self.classes:
            parts = self.taxonomy[name].split("/")
            middle = taxonomy.middle(parts[0], parts[1])
            minor = parts[2] if len(parts) == 3 else None
            if minor is not None and minor not in {known.name for known in middle.minors}:
                raise KeyError(f"no minor class {minor!r} under {middle.name!r}")
            keys.append((parts[0], parts[1], minor))
        return keys


def save_model(path: Path, network: nn.Module, metadata: ModelMetadata) -> None:
    """Weights in half precision (the file is half the size; accuracy is measured on the saved
    file, not before rounding), norm statistics in full."""
    tensors = {
        name: (value.half() if value.is_floating_point() and value.ndim > 1 else value)
        .detach()
        .cpu()
        .contiguous()
        for name, value in network.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(asdict(metadata))})


def read_metadata(path: Path) -> ModelMetadata:
    with safe_open(str(path), framework="pt") as opened:
        raw = json.loads((opened.metadata() or {})[METADATA_KEY])
    raw["classes"] = tuple(raw["classes"])
    return ModelMetadata(**raw)


def load_model(path: Path) -> tuple[nn.Module, ModelMetadata]:
    """The saved network, ready for inference only, and what its file says of it."""
    metadata = read_metadata(path)
    network = build_network(metadata.architecture, len(metadata.classes))
    weights = {
        name: value.float() if value.is_floating_point() else value
        for name, value in load_file(str(path)).items()
    }
    network.load_state_dict(weights)
    return fold_batch_norms(network.eval()), metadata


class LocalClassifier:
    backend = "local"

    def __init__(self, path: Path, *, device: str = "cpu", precision: Precision = "auto") -> None:
        try:
            network, metadata = load_model(path)
            self._keys = metadata.class_keys()
        except (OSError, SafetensorError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"No model could be loaded from {str(path)!r} ({type(exc).__name__}: {exc}). Set "
                "BUNRI_LOCAL_MODEL to a file written by `bunri train`, or choose another "
                "BUNRI_CLASSIFIER_BACKEND."
            ) from exc
        self.metadata = metadata
        self.model_name = path.stem
        self.unsure_below = metadata.unsure_below
        self.device = torch.device(device)
        self.dtype = inference_dtype(precision, self.device)
        self._network = network.to(self.device, self.dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]

    @property
    def number_format(self) -> str:
        """What the network computes in: float32, bfloat16."""
        return str(self.dtype).removeprefix("torch.")

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return self.infer(self.prepare(images))

    def prepare(self, images: Sequence[Image.Image]) -> Pixels:
        stored = to_tensor(
            [square(image.convert("RGB"), self.metadata.stored_size) for image in images]
        )
        pixels: Pixels = resize(stored, self.metadata.image_size).contiguous().numpy()
        return pixels

    @torch.inference_mode()
    def infer(self, pixels: Pixels) -> list[Scores]:
        probabilities = self.probabilities(torch.from_numpy(pixels)).tolist()
        results = []
        for row in probabilities:
            scores: Scores = {}
            for key, probability in zip(self._keys, row, strict=True):
                scores[key] = scores.get(key, 0.0) + probability
            results.append(scores)
        return results

    @torch.inference_mode()
    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The network's raw scores, (N, classes), in the order of `metadata.classes`."""
        inputs = inputs.to(self.device, self.dtype, memory_format=torch.channels_last)
        logits: torch.Tensor = self._network(inputs).float().cpu()
        return logits

    def probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities."""
        return (self.logits(inputs) / self.metadata.temperature).softmax(dim=-1)
