"""The compact classifier's network: a residual CNN in plain torch.

A ResNet (He et al. 2016) in the layout of ResNet-18 (stages of two basic blocks, stride 2
between them) with configurable widths, trained from scratch. Plain torch, because the
torchvision wheels reachable here are CUDA builds that the CPU torch cannot load; the layout is
small enough to own. Residual blocks with batch norm train reliably from random weights on a few
thousand photos, where the depthwise-separable mobile layouts need far longer schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        last_norm = nn.BatchNorm2d(outputs)
        # The last norm of each block starts at zero, so every block starts as the identity.
        nn.init.zeros_(last_norm.weight)
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
            last_norm,
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, ceil_mode=True, count_include_pad=False)
                if stride != 1
                else nn.Identity(),
                nn.Conv2d(inputs, outputs, 1, bias=False),
                nn.BatchNorm2d(outputs),
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.activation(self.body(x) + self.shortcut(x))
        return out


class ResidualNetwork(nn.Module):
    def __init__(
        self, num_classes: int, widths: Sequence[int], blocks: Sequence[int], dropout: float = 0.0
    ) -> None:
        super().__init__()
        stem = widths[0]
        layers: list[nn.Module] = [
            nn.Conv2d(3, stem // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(stem // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem // 2, stem, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        ]
        inputs = stem
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(BasicBlock(inputs, width, stride))
                inputs = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(inputs, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.dropout(self.pool(self.features(x)).flatten(1)))
        return logits


ARCHITECTURES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # name: (widths per stage, blocks per stage)
    "resnet18": ((64, 128, 256, 512), (2, 2, 2, 2)),
    "resnet18-half": ((32, 64, 128, 256), (2, 2, 2, 2)),
    "resnet10-half": ((32, 64, 128, 256), (1, 1, 1, 1)),
    "resnet14-s": ((48, 96, 192, 384), (1, 2, 2, 1)),
}


def build_network(architecture: str, num_classes: int, dropout: float = 0.0) -> ResidualNetwork:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; one of {sorted(ARCHITECTURES)}")
    widths, blocks = ARCHITECTURES[architecture]
    return ResidualNetwork(num_classes, widths, blocks, dropout)


def fold_batch_norms(network: nn.Module) -> nn.Module:
    """The network for inference, with each batch norm that follows a convolution folded into
    that convolution's weights and bias: the same function in fewer passes over the activations
    (the shipped model on one CPU thread, batch 1: 5-20% more images/s). Frozen statistics only:
    the network must be in eval mode, and can no longer be trained."""
    if network.training:
        raise ValueError("fold batch norms of a network in eval mode only")
    for module in network.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return network
