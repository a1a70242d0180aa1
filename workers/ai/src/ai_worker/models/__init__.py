"""Models shipped inside the package: the self-trained TrashNet classifier (`trashnet.safetensors`,
its card `trashnet.md`, and the class → taxonomy map it was trained with)."""

from pathlib import Path

BUNDLED_MODEL = Path(__file__).with_name("trashnet.safetensors")
TRASHNET_TAXONOMY_MAP = Path(__file__).with_name("trashnet.taxonomy.json")
