"""The local model's file (`bunri train` writes it): one safetensors file whose tensors are the
network and the out-of-distribution statistics, and whose metadata says everything else needed
to use it (backbone, classes and where each goes in the taxonomy, input size, the temperatures
that calibrate both heads, the typicality curves, the confidence below which it is unsure), so
the file alone is the model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ai_worker.classifier.base import ClassKey
from ai_worker.classifier.combine import Typicality
from ai_worker.classifier.imagenet_map import parse_target
from ai_worker.training.efficientnet import WasteNetwork, fold_norms

METADATA_KEY = "bunri.model"
NETWORK_PREFIX = "network."
WHITENING = "ood.whitening"
WHITENED_MEANS = "ood.whitened_means"


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    architecture: str  # the backbone: efficientnet-lite0 ...
    classes: tuple[str, ...]
    # Each class → "major/middle" or "major/middle/minor" of the taxonomy.
    taxonomy: dict[str, str]
    image_size: int  # the whole photo is squeezed to this square
    waste_temperature: float = 1.0
    imagenet_temperature: float = 1.0
    distance: tuple[float, float] = (0.0, -1.0)  # Typicality(centre, width) of the features
    energy: tuple[float, float] = (0.0, 1.0)  # ... and of the waste logits
    answer_temperature: float = 1.0  # of the combined answer, at the middle class
    unsure_below: float = 0.5  # calibrated on the validation photos
    extra: dict[str, object] = field(default_factory=dict)  # the model card's facts

    def class_keys(self) -> list[ClassKey]:
        return [parse_target(self.taxonomy[name]) for name in self.classes]

    def distance_typicality(self) -> Typicality:
        return Typicality(*self.distance)

    def energy_typicality(self) -> Typicality:
        return Typicality(*self.energy)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    network: WasteNetwork  # eval mode, batch norms folded
    metadata: ModelMetadata
    whitening: torch.Tensor
    whitened_means: torch.Tensor


def save_model(
    path: Path,
    network: WasteNetwork,
    metadata: ModelMetadata,
    whitening: torch.Tensor,
    whitened_means: torch.Tensor,
) -> None:
    """Weights in half precision (the file is half the size; accuracy is measured on the saved
    file, not before rounding); norm statistics and the whitening in full (its entries span more
    orders of magnitude than half precision holds)."""
    tensors = {
        NETWORK_PREFIX + name: _stored(value) for name, value in network.state_dict().items()
    }
    tensors[WHITENING] = whitening.detach().cpu().float().contiguous()
    tensors[WHITENED_MEANS] = whitened_means.detach().cpu().float().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(asdict(metadata))})


def _stored(value: torch.Tensor) -> torch.Tensor:
    half = value.is_floating_point() and value.ndim > 1
    return (value.half() if half else value).detach().cpu().contiguous()


def read_metadata(path: Path) -> ModelMetadata:
    with safe_open(str(path), framework="pt") as opened:
        raw = json.loads((opened.metadata() or {})[METADATA_KEY])
    raw["classes"] = tuple(raw["classes"])
    raw["distance"] = tuple(raw["distance"])
    raw["energy"] = tuple(raw["energy"])
    return ModelMetadata(**raw)


def load_model(path: Path, *, fold: bool = True) -> LoadedModel:
    """The saved network in eval mode, and what its file says of it; with its norms folded
    (ready for inference only) unless it is to be saved again."""
    metadata = read_metadata(path)
    tensors = load_file(str(path))
    network = WasteNetwork(metadata.architecture, len(metadata.classes))
    network.load_state_dict(
        {
            name.removeprefix(NETWORK_PREFIX): value.float() if value.is_floating_point() else value
            for name, value in tensors.items()
            if name.startswith(NETWORK_PREFIX)
        }
    )
    network.eval()
    if fold:
        fold_norms(network)
    return LoadedModel(
        network, metadata, tensors[WHITENING].float(), tensors[WHITENED_MEANS].float()
    )
