"""Scenes to lay studio photos on: any folder of photos and textures, and a way to fill one from
Debian's own packages (wallpapers and GIMP's surface textures: wood, stone, fabric, paper), which
a machine with no other network can still install.

The folder is read into memory once, as squares; every epoch crops from it at random. Every fifth
file (in name order) is kept apart: it makes the held-out scenes that the model is checked on.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ai_worker.training.data import IMAGE_SUFFIXES, to_tensor

DEBIAN_PACKAGES = ("gimp-data", "plasma-workspace-wallpapers", "ukui-wallpapers")
HELD_OUT_EVERY = 5
LONGEST_SIDE = 1024  # what the fetch keeps of a wallpaper


@dataclass(frozen=True, slots=True)
class Backgrounds:
    train: torch.Tensor  # uint8 (N, 3, size, size)
    held_out: torch.Tensor


def read_backgrounds(folder: Path | None, size: int) -> Backgrounds:
    """The folder's images as squares of `size` (textures smaller than that are tiled); an empty
    library where there is no folder."""
    empty = torch.zeros(0, 3, size, size, dtype=torch.uint8)
    if folder is None:
        return Backgrounds(empty, empty)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder} holds no images to use as backgrounds")
    squares = [_square(path, size) for path in files]
    held_out = [image for index, image in enumerate(squares) if index % HELD_OUT_EVERY == 0]
    train = [image for index, image in enumerate(squares) if index % HELD_OUT_EVERY != 0]
    return Backgrounds(
        to_tensor(train) if train else empty, to_tensor(held_out) if held_out else empty
    )


def _square(path: Path, size: int) -> Image.Image:
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    if min(image.size) < size:
        repeats = (size // image.width + 1, size // image.height + 1)
        tiled = Image.new("RGB", (image.width * repeats[0], image.height * repeats[1]))
        for x in range(repeats[0]):
            for y in range(repeats[1]):
                tiled.paste(image, (x * image.width, y * image.height))
        image = tiled
    return ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)


def read_gimp_pattern(path: Path) -> Image.Image:
    """A GIMP pattern (.pat): a big-endian header (size, version, width, height, bytes per
    pixel, b"GPAT", name), then the pixels."""
    raw = path.read_bytes()
    header_size, version, width, height, depth = struct.unpack(">5I", raw[:20])
    if version != 1 or raw[20:24] != b"GPAT" or depth not in (1, 2, 3, 4):
        raise ValueError(f"{path} is not a GIMP pattern")
    pixels = np.frombuffer(raw, np.uint8, width * height * depth, header_size)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[depth]
    return Image.fromarray(pixels.reshape(height, width, depth).squeeze(), mode).convert("RGB")


def fetch_backgrounds(destination: Path) -> int:
    """Downloads DEBIAN_PACKAGES with apt (no root needed) and keeps their photos and textures
    in `destination` as JPEG files; returns how many."""
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # apt and dpkg from the PATH are the point: Debian's own tools, fixed arguments.
        subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=work, check=True)  # noqa: S603, S607
        for package in work.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(package), str(work / "root")], check=True)  # noqa: S603, S607
        root = work / "root" / "usr" / "share"
        for pattern in sorted(root.glob("gimp/*/patterns/**/*.pat")):
            if pattern.parent.name == "Legacy":
                continue  # coloured squares and stripes: nothing a photo shows
            read_gimp_pattern(pattern).save(destination / f"texture-{pattern.stem}.jpg", quality=92)
            count += 1
        for wallpaper in sorted((root / "wallpapers").glob("*/contents/images")):
            count += _keep(
                _closest_to_keep(wallpaper),
                destination / f"wallpaper-{wallpaper.parent.parent.name}.jpg",
            )
        for background in sorted((root / "backgrounds").glob("*.*")):
            count += _keep(background, destination / f"background-{background.stem}.jpg")
    return count


def _closest_to_keep(folder: Path) -> Path:
    """Of a wallpaper's sizes, the smallest one at least LONGEST_SIDE wide."""

    def width(path: Path) -> int:
        return int(path.stem.split("x")[0]) if "x" in path.stem else 0

    sizes = sorted(folder.iterdir(), key=width)
    wide = [path for path in sizes if width(path) >= LONGEST_SIDE]
    return (wide or sizes)[0]


def _keep(source: Path, target: Path) -> int:
    try:
        with Image.open(source) as opened:
            image = opened.convert("RGB")
    except OSError:
        return 0
    image.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
    image.save(target, quality=90)
    return 1
