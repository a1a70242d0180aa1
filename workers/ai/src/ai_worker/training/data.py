"""A photo dataset laid out as one folder per class, read once into memory at training size.

The photos are decoded a single time into one uint8 tensor, the way the AI worker prepares a
photo (`square`), and every epoch augments from memory: two CPU cores stay on the model instead
of on the JPEG decoder.
"""

from __future__ import annotations

import random
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
SPLIT_LIST_NAMES = {
    "train": "one-indexed-files-notrash_train.txt",
    "val": "one-indexed-files-notrash_val.txt",
    "test": "one-indexed-files-notrash_test.txt",
}


class DatasetError(ValueError):
    """The data folder is not usable as a dataset; the message says why."""


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True, slots=True)
class Dataset:
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]

    def subset(self, names: Iterable[str]) -> Dataset:
        wanted = set(names)
        return Dataset(self.classes, tuple(s for s in self.samples if s.path.name in wanted))

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([sample.label for sample in self.samples], dtype=torch.long)


@dataclass(frozen=True, slots=True)
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    source: str  # how the split was made, for the model card


def discover(data_dir: Path, relabel: Mapping[str, str] | None = None) -> Dataset:
    """Every image under `data_dir/<class>/`; classes are the folder names in sorted order, and
    the classes `relabel` gives to photos it names ("folder/file.jpg" → class)."""
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir} is not a folder")
    relabel = relabel or {}
    folders = sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name != "splits")
    found = {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for folder in folders
    }
    missing = sorted(set(relabel) - {f"{name}/{p.name}" for name, ps in found.items() for p in ps})
    if missing:
        raise DatasetError(f"{data_dir} has no photos {missing[:3]}... that the relabel names")
    labelled = [
        (path, relabel.get(f"{name}/{path.name}", name))
        for name, paths in found.items()
        for path in paths
    ]
    classes = sorted({label for _, label in labelled})
    if len(classes) < 2:
        raise DatasetError(f"{data_dir} needs at least two class folders holding images")
    samples = [Sample(path, classes.index(label)) for path, label in labelled]
    return Dataset(tuple(classes), tuple(samples))


def read_relabel(path: Path) -> dict[str, str]:
    """A relabel file (TOML: `[class] photos = ["folder/file.jpg", ...]`) as photo → class."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        relabel = {photo: label for label, table in data.items() for photo in table["photos"]}
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"the relabel file {path} is unusable: {exc}") from exc
    if sum(len(table["photos"]) for table in data.values()) != len(relabel):
        raise DatasetError(f"{path} gives a photo more than one class")
    return relabel


def split(dataset: Dataset, data_dir: Path, *, seed: int, val: float, test: float) -> Splits:
    """The dataset authors' own split where `data_dir/splits` holds their lists (results stay
    comparable with theirs); otherwise a seeded split stratified by class."""
    lists = data_dir / "splits"
    if all((lists / name).is_file() for name in SPLIT_LIST_NAMES.values()):
        parts = {part: _listed(lists / name) for part, name in SPLIT_LIST_NAMES.items()}
        return Splits(
            train=dataset.subset(parts["train"]),
            val=dataset.subset(parts["val"]),
            test=dataset.subset(parts["test"]),
            source=f"the dataset's own lists in {lists.name}/",
        )
    by_class: defaultdict[int, list[Sample]] = defaultdict(list)
    for sample in dataset.samples:
        by_class[sample.label].append(sample)
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    chosen: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for members in by_class.values():
        shuffled = list(members)
        rng.shuffle(shuffled)
        n_test = round(len(shuffled) * test)
        n_val = round(len(shuffled) * val)
        chosen["test"] += shuffled[:n_test]
        chosen["val"] += shuffled[n_test : n_test + n_val]
        chosen["train"] += shuffled[n_test + n_val :]
    return Splits(
        train=Dataset(dataset.classes, tuple(chosen["train"])),
        val=Dataset(dataset.classes, tuple(chosen["val"])),
        test=Dataset(dataset.classes, tuple(chosen["test"])),
        source=f"stratified by class, seed {seed}, {val:.0%} validation, {test:.0%} test",
    )


def _listed(path: Path) -> set[str]:
    return {line.split()[0] for line in path.read_text("utf-8").splitlines() if line.strip()}


def load_image(path: Path, size: int) -> Image.Image:
    """RGB, upright (EXIF orientation applied, as the storage worker does), `size` pixels square."""
    with Image.open(path) as opened:
        upright = ImageOps.exif_transpose(opened)
        return square(upright.convert("RGB"), size)


def square(image: Image.Image, size: int) -> Image.Image:
    """The whole photo squeezed to a square: nothing at its edges is cropped away."""
    return image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)


def to_tensor(images: Sequence[Image.Image]) -> torch.Tensor:
    """(N, 3, H, W) uint8."""
    return torch.from_numpy(np.stack([np.asarray(image) for image in images])).permute(0, 3, 1, 2)


def decode_all(dataset: Dataset, size: int, *, threads: int = 4) -> torch.Tensor:
    with ThreadPoolExecutor(threads) as pool:
        images = list(pool.map(lambda sample: load_image(sample.path, size), dataset.samples))
    return to_tensor(images).contiguous()
