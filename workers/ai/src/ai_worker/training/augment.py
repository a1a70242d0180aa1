"""Augmentation of a whole batch at once, in tensor operations: one affine resampling per batch
(zoom, aspect, shift, rotation, flips) instead of a chain of per-image PIL transforms, so that
two CPU cores spend their time in the model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)

# ImageNet's channel statistics: the photos' own are close, and a fixed pair keeps any model
# file readable without its training data.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, slots=True)
class Augmentation:
    min_zoom_area: float = 0.35  # the smallest crop, as a share of the photo's area
    max_rotation_degrees: float = 180.0  # a photo of an item on a table has no "up"
    colour: float = 0.25  # brightness, contrast and saturation vary by up to this share
    erase: float = 0.25  # chance of blanking a random rectangle (cutout)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) → float32 normalised with the fixed statistics."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def augment(
    images: torch.Tensor, size: int, settings: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """uint8 (N, 3, H, W) → normalised float32 (N, 3, size, size), each image transformed its
    own random way."""
    n = images.shape[0]
    pixels = images.float() / 255.0

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    area = uniform(settings.min_zoom_area, 1.0)
    log_aspect = uniform(math.log(3 / 4), math.log(4 / 3))
    scale_x = torch.sqrt(area * torch.exp(log_aspect)).clamp(max=1.0)
    scale_y = torch.sqrt(area / torch.exp(log_aspect)).clamp(max=1.0)
    shift_x = uniform(-1.0, 1.0) * (1 - scale_x)
    shift_y = uniform(-1.0, 1.0) * (1 - scale_y)
    angle = torch.deg2rad(uniform(-settings.max_rotation_degrees, settings.max_rotation_degrees))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([scale_x * cos * flip, -scale_y * sin, shift_x], dim=1),
            torch.stack([scale_x * sin * flip, scale_y * cos, shift_y], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    # Corners a rotation uncovers take the nearest edge pixel: the photos' background.
    pixels = F.grid_sample(
        pixels, grid, mode="bilinear", padding_mode="border", align_corners=False
    )

    def jitter() -> torch.Tensor:
        return uniform(1 - settings.colour, 1 + settings.colour).view(n, 1, 1, 1)

    grey = pixels.mean(dim=1, keepdim=True)
    pixels = grey + (pixels - grey) * jitter()  # saturation
    mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = mean + (pixels - mean) * jitter()  # contrast
    pixels = (pixels * jitter()).clamp(0.0, 1.0)  # brightness
    pixels = _erase(pixels, settings.erase, generator)
    mean_t = torch.tensor(MEAN).view(1, 3, 1, 1)
    std_t = torch.tensor(STD).view(1, 3, 1, 1)
    return ((pixels - mean_t) / std_t).contiguous(memory_format=torch.channels_last)


def _erase(pixels: torch.Tensor, chance: float, generator: torch.Generator) -> torch.Tensor:
    n, _, height, width = pixels.shape
    for index in range(n):
        if torch.rand(1, generator=generator).item() >= chance:
            continue
        h = int(height * (0.2 + 0.3 * torch.rand(1, generator=generator).item()))
        w = int(width * (0.2 + 0.3 * torch.rand(1, generator=generator).item()))
        top = int(torch.randint(0, height - h + 1, (1,), generator=generator).item())
        left = int(torch.randint(0, width - w + 1, (1,), generator=generator).item())
        pixels[index, :, top : top + h, left : left + w] = torch.rand(3, 1, 1, generator=generator)
    return pixels


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) → normalised float32 at `size`: the evaluation view, no randomness."""
    pixels = normalise(images)
    if pixels.shape[-1] != size:
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    return pixels.contiguous(memory_format=torch.channels_last)
