"""Models shipped inside the package: the local classifier (`waste.safetensors`, written by
`bunri train`; its card `waste.md`), the class → taxonomy map of TrashNet's folders it was
trained with and the reviewed list of TrashNet photos it trained under another class, and the
reviewed ImageNet → taxonomy map its ImageNet head answers through."""

from pathlib import Path

BUNDLED_MODEL = Path(__file__).with_name("waste.safetensors")
TRASHNET_TAXONOMY_MAP = Path(__file__).with_name("trashnet.taxonomy.json")
TRASHNET_RELABEL = Path(__file__).with_name("trashnet.relabel.toml")
