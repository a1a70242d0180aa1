"""A class that feedback names, checked against the taxonomy, and the names it goes by in an
exported dataset: `major/middle[/minor]` (the `--taxonomy-map` format of `bunri train`) and a
folder name."""

from __future__ import annotations

from bunri.guides import Taxonomy, UnknownClass

FOLDER_SEPARATOR = "__"
# Kept as they are in a folder name: letters and digits of any script, and these. Anything else
# (a path separator, a dot, "_" itself, spaces, "%") is percent-encoded, so that two classes never
# share a folder and `__` only ever separates the levels.
_FOLDER_SAFE = frozenset("-·")


def check_class(taxonomy: Taxonomy, major: str, middle: str, minor: str | None) -> None:
    """Raise `UnknownClass` unless the taxonomy has this major, middle and (if given) minor."""
    found = taxonomy.middle(major, middle)
    if minor is not None and minor not in {known.name for known in found.minors}:
        known = ", ".join(candidate.name for candidate in found.minors)
        raise UnknownClass(
            f"Unknown minor class {minor!r} under {major!r}/{middle!r}; its minor classes are: "
            f"{known}."
        )


def class_path(major: str, middle: str, minor: str | None) -> str:
    """`major/middle[/minor]`, as `bunri train --taxonomy-map` reads a class."""
    return "/".join(name for name in (major, middle, minor) if name is not None)


def class_folder(major: str, middle: str, minor: str | None) -> str:
    """The folder of a class in an exported dataset, e.g. `재활용폐기물__종이__신문지`."""
    return FOLDER_SEPARATOR.join(
        _folder_part(name) for name in (major, middle, minor) if name is not None
    )


def _folder_part(name: str) -> str:
    return "".join(
        char
        if char.isalnum() or char in _FOLDER_SAFE
        else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in name
    )
