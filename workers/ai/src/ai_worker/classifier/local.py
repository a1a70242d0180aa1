"""The self-hosted classifier (`bunri train`): an ImageNet-pretrained EfficientNet-Lite with a
fine-tuned waste head beside its ImageNet head, combined through the ImageNet map with
out-of-distribution abstention (ai_worker.classifier.combine).

On a CPU the network runs in ONNX Runtime: exported from torch once, in the process that loads
the model, and opened as a session in each process that runs it (a session's threads do not
survive a fork). ONNX Runtime runs EfficientNet's depthwise convolutions about 1.5x faster than
torch on one CPU thread (bench.ai_model). On a GPU it runs in torch.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError

from ai_worker.classifier.base import ClassKey, ModelUnavailable, Pixels, Scores
from ai_worker.classifier.combine import Array, Combined, Mixture, combine
from ai_worker.classifier.imagenet_map import IMAGENET_MAP, read_imagenet_map
from ai_worker.classifier.model_file import ModelMetadata, load_model
from ai_worker.classifier.precision import inference_dtype
from ai_worker.settings import Precision
from ai_worker.training.augment import MEAN, STD
from ai_worker.training.data import square
from ai_worker.training.efficientnet import WasteNetwork

Outputs = tuple[Array, Array, Array]  # waste logits, ImageNet logits, pooled features


class Engine(Protocol):
    number_format: str

    def run(self, pixels: Pixels) -> Outputs: ...

    def reset(self) -> None:
        """Forget what was set up for the process's thread count at the time."""


class TorchEngine:
    def __init__(self, network: WasteNetwork, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self.number_format = str(dtype).removeprefix("torch.")
        self._network = network.to(device, dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]

    def reset(self) -> None:
        pass

    @torch.inference_mode()
    def run(self, pixels: Pixels) -> Outputs:
        inputs = torch.from_numpy(pixels).to(
            self.device, self.dtype, memory_format=torch.channels_last
        )
        waste, imagenet, features = self._network(inputs)
        return (
            waste.float().cpu().numpy(),
            imagenet.float().cpu().numpy(),
            features.float().cpu().numpy(),
        )


class OnnxEngine:
    number_format = "float32"

    def __init__(self, network: WasteNetwork, image_size: int) -> None:
        graph = io.BytesIO()
        with warnings.catch_warnings():
            # The padding's size is read off the input's at export: fixed, as the input is.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            # The TorchScript exporter is deprecated for the dynamo one, which needs onnxscript
            # and gives this plain convolutional graph nothing more.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                network,
                (torch.zeros(1, 3, image_size, image_size),),
                graph,  # type: ignore[arg-type]  # a file object is what it writes to
                dynamo=False,
                input_names=["pixels"],
                output_names=["waste", "imagenet", "features"],
                dynamic_axes={"pixels": {0: "images"}},
            )
        self._graph = graph.getvalue()
        self._session: object | None = None
        self._session_pid = 0

    def run(self, pixels: Pixels) -> Outputs:
        waste, imagenet, features = self._session_here().run(None, {"pixels": pixels})  # type: ignore[attr-defined]
        return waste, imagenet, features

    def reset(self) -> None:
        self._session = None

    def _session_here(self) -> object:
        if self._session is None or self._session_pid != os.getpid():
            import onnxruntime

            options = onnxruntime.SessionOptions()
            # As many threads as torch was given in this process (the worker's setting).
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                self._graph, options, providers=["CPUExecutionProvider"]
            )
            self._session_pid = os.getpid()
        return self._session


def make_engine(
    network: WasteNetwork, image_size: int, device: torch.device, precision: Precision
) -> Engine:
    """ONNX Runtime in float32 on a CPU unless bfloat16 was asked for; torch on anything else."""
    if device.type == "cpu" and precision != "bfloat16":
        return OnnxEngine(network, image_size)
    return TorchEngine(network, device, inference_dtype(precision, device))


class LocalClassifier:
    backend = "local"

    def __init__(
        self,
        path: Path,
        *,
        device: str = "cpu",
        precision: Precision = "auto",
        imagenet_map: Path = IMAGENET_MAP,
    ) -> None:
        try:
            loaded = load_model(path)
            self.imagenet_map = read_imagenet_map(imagenet_map)
            self.mixture = mixture_of(
                loaded.metadata, loaded.whitening, loaded.whitened_means, self.imagenet_map.keys
            )
        except (OSError, SafetensorError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"No model could be loaded from {str(path)!r} ({type(exc).__name__}: {exc}). Set "
                "BUNRI_LOCAL_MODEL to a file written by `bunri train`, or choose another "
                "BUNRI_CLASSIFIER_BACKEND."
            ) from exc
        self.metadata: ModelMetadata = loaded.metadata
        self.model_name = path.stem
        self.unsure_below = loaded.metadata.unsure_below
        self.device = torch.device(device)
        self._engine = make_engine(
            loaded.network, loaded.metadata.image_size, self.device, precision
        )

    @property
    def number_format(self) -> str:
        """What the network computes in: float32, bfloat16."""
        return self._engine.number_format

    @property
    def engine(self) -> str:
        return type(self._engine).__name__.removesuffix("Engine").lower()

    def use_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self._engine.reset()

    def classify(self, images: Sequence[Image.Image]) -> list[Scores]:
        return self.infer(self.prepare(images))

    def prepare(self, images: Sequence[Image.Image]) -> Pixels:
        """The whole photo squeezed square (nothing at its edges cropped away), scaled as the
        network was trained."""
        size = self.metadata.image_size
        stacked = np.stack([np.asarray(square(image.convert("RGB"), size)) for image in images])
        mean = np.asarray(MEAN, np.float32) * 255
        scale = 1 / (np.asarray(STD, np.float32) * 255)
        pixels: Pixels = np.ascontiguousarray(
            ((stacked.astype(np.float32) - mean) * scale).transpose(0, 3, 1, 2)
        )
        return pixels

    def infer(self, pixels: Pixels) -> list[Scores]:
        return self.combined(pixels).scores()

    def combined(self, pixels: Pixels) -> Combined:
        """Both heads and the mixture, with what decided it (for evaluation)."""
        return combine(self.mixture, *self.outputs(pixels))

    def outputs(self, pixels: Pixels) -> Outputs:
        return self._engine.run(pixels)


def mixture_of(
    metadata: ModelMetadata,
    whitening: torch.Tensor,
    whitened_means: torch.Tensor,
    imagenet_keys: dict[int, ClassKey],
) -> Mixture:
    return Mixture(
        waste_keys=metadata.class_keys(),
        imagenet_keys=imagenet_keys,
        waste_temperature=metadata.waste_temperature,
        imagenet_temperature=metadata.imagenet_temperature,
        whitening=whitening.numpy(),
        whitened_means=whitened_means.numpy(),
        distance=metadata.distance_typicality(),
        energy=metadata.energy_typicality(),
        answer_temperature=metadata.answer_temperature,
    )
