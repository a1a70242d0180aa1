"""The reviewed map from ImageNet's classes to the taxonomy (`models/imagenet.taxonomy.toml`):
what the pretrained head recognises that has a clear disposal answer. Read where the model is
loaded, so that a reviewed change to the map needs no retraining."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ai_worker.classifier.base import ClassKey
from bunri.guides import load_taxonomy

IMAGENET_MAP = Path(__file__).parent.parent / "models" / "imagenet.taxonomy.toml"
IMAGENET_CLASSES = 1000


@dataclass(frozen=True, slots=True)
class ImagenetMap:
    version: int
    keys: dict[int, ClassKey]  # ImageNet class index → where it goes
    names: dict[int, str]


def parse_target(target: str) -> ClassKey:
    """'major/middle' or 'major/middle/minor', checked against the taxonomy."""
    parts = target.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"{target!r} is not 'major/middle' or 'major/middle/minor'")
    middle = load_taxonomy().middle(parts[0], parts[1])
    minor = parts[2] if len(parts) == 3 else None
    if minor is not None and minor not in {known.name for known in middle.minors}:
        raise ValueError(f"no minor class {minor!r} under {parts[0]}/{parts[1]}")
    return (parts[0], parts[1], minor)


def read_imagenet_map(path: Path = IMAGENET_MAP) -> ImagenetMap:
    data = tomllib.loads(path.read_text("utf-8"))
    keys: dict[int, ClassKey] = {}
    names: dict[int, str] = {}
    for entry in data["class"]:
        index = int(entry["index"])
        if not 0 <= index < IMAGENET_CLASSES or index in keys:
            raise ValueError(f"{path}: ImageNet class {index} is out of range or listed twice")
        if not str(entry.get("why", "")).strip():
            raise ValueError(f"{path}: ImageNet class {index} has no reason")
        keys[index] = parse_target(entry["goes_to"])
        names[index] = entry["name"]
    return ImagenetMap(int(data["version"]), keys, names)
