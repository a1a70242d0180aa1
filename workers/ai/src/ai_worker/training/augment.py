"""Augmentation of a whole batch at once, in tensor operations: the studio photo laid in a scene
(ai_worker.training.composite), then one affine resampling per batch (zoom, aspect, shift,
rotation, flips), light, colour, blur, grain and cutout. Aimed at what real photos do to a model
trained on studio ones: other backgrounds, clutter, hands, uneven light, camera shake, part of
the item out of view."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)

from ai_worker.training.composite import add_clutter, composite, cover_with_hand

# EfficientNet-Lite's input scaling (TensorFlow's (x - 127) / 128): pixels to [-1, 1].
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True, slots=True)
class Augmentation:
    min_zoom_area: float = 0.3  # the smallest crop, as a share of the photo's area
    max_rotation_degrees: float = 180.0  # a photo of an item on a table has no "up"
    colour: float = 0.3  # brightness, contrast and saturation vary by up to this share
    erase: float = 0.2  # chance of blanking a random rectangle (cutout)
    scene: float = 0.6  # chance of laying the item on another background
    clutter: float = 0.25  # chance of another item near an edge
    hand: float = 0.15  # chance of fingers over an edge
    blur: float = 0.25  # chance of a defocused or shaken photo
    grain: float = 0.3  # chance of sensor noise


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """float [0, 1] or uint8 (N, 3, H, W) → the network's input scale, channels last."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((pixels - mean) / std).contiguous(memory_format=torch.channels_last)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) → normalised float32 at `size`: the evaluation view, no randomness."""
    pixels = images.float() / 255.0
    if pixels.shape[-1] != size or pixels.shape[-2] != size:
        pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True)
    return normalise(pixels)


def in_scenes(
    images: torch.Tensor,
    masks: torch.Tensor,
    backgrounds: torch.Tensor,
    settings: Augmentation,
    generator: torch.Generator,
) -> torch.Tensor:
    """uint8 studio photos and their masks → float [0, 1] scenes at the same size."""
    items = images.float() / 255.0
    scenes = composite(items, masks, backgrounds, settings.scene, generator)
    return add_clutter(scenes, items, masks, settings.clutter, generator)


def augment(
    pixels: torch.Tensor, size: int, settings: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """float [0, 1] or uint8 (N, 3, H, W) → normalised float32 (N, 3, size, size), each image
    transformed its own random way."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.float() / 255.0
    n = pixels.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    def chosen(chance: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) < chance).view(n, 1, 1, 1)

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
    # Corners a rotation uncovers mirror the scene rather than smear its edge.
    pixels = F.grid_sample(
        pixels, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    pixels = cover_with_hand(pixels, settings.hand, generator)

    def jitter() -> torch.Tensor:
        return uniform(1 - settings.colour, 1 + settings.colour).view(n, 1, 1, 1)

    grey = pixels.mean(dim=1, keepdim=True)
    pixels = grey + (pixels - grey) * jitter()  # saturation
    mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = mean + (pixels - mean) * jitter()  # contrast
    warmth = 1 + (torch.rand(n, 3, 1, 1, generator=generator) - 0.5) * settings.colour * 0.5
    pixels = pixels * jitter() * warmth  # brightness and the light's colour
    pixels = _uneven_light(pixels, generator)
    pixels = torch.where(chosen(settings.blur), _blur(pixels, generator), pixels)
    grain = torch.randn(pixels.shape, generator=generator) * uniform(0.01, 0.05).view(n, 1, 1, 1)
    pixels = torch.where(chosen(settings.grain), pixels + grain, pixels).clamp(0.0, 1.0)
    pixels = _erase(pixels, settings.erase, generator)
    return normalise(pixels)


def _uneven_light(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A gradient of light across the frame (a window on one side, a lamp above)."""
    n, _, height, width = pixels.shape
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    ys = torch.linspace(-1, 1, height).view(1, height, 1)
    xs = torch.linspace(-1, 1, width).view(1, 1, width)
    ramp = torch.cos(angle).view(n, 1, 1) * xs + torch.sin(angle).view(n, 1, 1) * ys
    strength = (torch.rand(n, generator=generator) * 0.35).view(n, 1, 1)
    return pixels * (1 + ramp * strength).unsqueeze(1)


def _blur(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of a random width, the same for the whole batch (one convolution)."""
    sigma = 0.6 + 1.6 * torch.rand(1, generator=generator).item()
    radius = max(1, math.ceil(2.5 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = pixels.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = F.pad(pixels, (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


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
