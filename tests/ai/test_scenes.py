"""Laying studio photos in scenes: the cut follows the item, not the board; the library of
backgrounds reads photos and GIMP textures and keeps a fifth apart for the checks."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ai_worker.training.augment import Augmentation, in_scenes
from ai_worker.training.backgrounds import read_backgrounds, read_gimp_pattern
from ai_worker.training.composite import cover_with_hand, random_backgrounds, studio_mask

BOARD = (235, 232, 228)
ITEM = (40, 90, 160)


def studio_photo() -> torch.Tensor:
    """A blue square on a light board with a soft shadow gradient, (1, 3, 64, 64) uint8."""
    pixels = np.empty((64, 64, 3), np.float32)
    pixels[:] = BOARD
    pixels *= np.linspace(1.0, 0.94, 64)[:, None, None]  # uneven light on the board
    pixels[20:44, 16:48] = ITEM
    return torch.from_numpy(pixels.astype(np.uint8)).permute(2, 0, 1).unsqueeze(0)


def test_the_cut_keeps_the_item_and_drops_the_board() -> None:
    mask = studio_mask(studio_photo())[0, 0].float() / 255
    assert mask[24:40, 20:44].min() > 0.9
    assert mask[:8].max() < 0.1
    assert mask[-6:].max() < 0.1
    assert mask[:, :8].max() < 0.1


def test_an_item_laid_in_a_scene_keeps_its_colour_and_loses_its_board() -> None:
    photo = studio_photo()
    generator = torch.Generator().manual_seed(0)
    dark = torch.zeros(1, 3, 64, 64)  # a black table
    settings = Augmentation(scene=1.0, clutter=0.0)
    scene = in_scenes(photo, studio_mask(photo), dark, settings, generator)[0]
    item = torch.tensor(ITEM, dtype=torch.float32) / 255
    assert torch.allclose(scene[:, 32, 32], item, atol=0.12)  # lit a little by the scene
    assert scene[:, 2, 2].max() < 0.05  # the board is gone


def test_made_up_backgrounds_and_hands_stay_images() -> None:
    generator = torch.Generator().manual_seed(1)
    scenes = random_backgrounds(8, 32, None, generator)
    assert scenes.shape == (8, 3, 32, 32)
    assert float(scenes.min()) >= 0
    assert float(scenes.max()) <= 1
    covered = cover_with_hand(scenes.clone(), 1.0, generator)
    assert (covered != scenes).any()


def gimp_pattern(path: Path, width: int, height: int) -> None:
    name = b"wood\x00"
    header = struct.pack(">5I", 24 + len(name), 1, width, height, 3) + b"GPAT" + name
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
    path.write_bytes(header + pixels.tobytes())


def test_the_library_reads_textures_tiles_them_and_holds_a_fifth_out(tmp_path: Path) -> None:
    gimp_pattern(tmp_path / "wood.pat", 24, 16)
    texture = read_gimp_pattern(tmp_path / "wood.pat")
    assert texture.size == (24, 16)
    texture.save(tmp_path / "texture-wood.png")
    for index in range(9):
        Image.new("RGB", (120, 90), (index * 20, 100, 50)).save(tmp_path / f"photo-{index}.jpg")
    library = read_backgrounds(tmp_path, 64)
    assert library.train.shape[1:] == (3, 64, 64)
    assert len(library.held_out) == 2  # 10 images: the 1st and 6th in name order
    assert len(library.train) == 8
