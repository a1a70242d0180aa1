"""What an image installs: the workspace members its builder names, their dependencies read from
their pyproject.toml (the source of truth for an image build), and the third-party dependencies
below them from the installed distributions' metadata."""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.compose import ROOT

# Workspace members: distribution name -> (folder, top-level package).
MEMBERS: dict[str, tuple[Path, str]] = {
    "bunri": (ROOT / "libs/bunri", "bunri"),
    "bunri-programs": (ROOT / "programs", "bunri_programs"),
    "bunri-auth-api": (ROOT / "services/auth-api", "auth_api"),
    "bunri-scan-api": (ROOT / "services/scan-api", "scan_api"),
    "bunri-chat-api": (ROOT / "services/chat-api", "chat_api"),
    "bunri-my-api": (ROOT / "services/my-api", "my_api"),
    "bunri-character-api": (ROOT / "services/character-api", "character_api"),
    "bunri-location-api": (ROOT / "services/location-api", "location_api"),
    "bunri-info-api": (ROOT / "services/info-api", "info_api"),
    "bunri-storage-worker": (ROOT / "workers/storage", "storage_worker"),
    "bunri-ai-worker": (ROOT / "workers/ai", "ai_worker"),
    "bunri-character-worker": (ROOT / "workers/character", "character_worker"),
}


# Members that are imported, never run: no image of their own.
LIBRARIES = {ROOT / "libs/bunri"}


def member_name(folder: Path) -> str:
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    name: str = project["name"]
    return name


def _requirements(name: str) -> list[str]:
    if name in MEMBERS:
        project = tomllib.loads((MEMBERS[name][0] / "pyproject.toml").read_text())["project"]
        listed: list[str] = list(project.get("dependencies", []))
        for extra, requirements in project.get("optional-dependencies", {}).items():
            listed += [f"{requirement}; extra == '{extra}'" for requirement in requirements]
        return listed
    return importlib.metadata.distribution(name).requires or []


def closure(roots: Iterable[tuple[str, set[str]]]) -> set[str]:
    """Canonical names of every distribution `pip install` of `roots` (name, extras) brings."""
    seen: set[tuple[str, frozenset[str]]] = set()
    found: set[str] = set()
    pending = [(name, frozenset(extras)) for name, extras in roots]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        found.add(key)
        for line in _requirements(name):
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            if wanted:
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def top_level_modules(distributions: set[str]) -> set[str]:
    """The importable top-level names those distributions provide."""
    names = {
        package
        for name, (_, package) in MEMBERS.items()
        if canonicalize_name(name) in distributions
    }
    for module, owners in importlib.metadata.packages_distributions().items():
        if any(canonicalize_name(owner) in distributions for owner in owners):
            names.add(module)
    return names


def foreign_modules(distributions: set[str]) -> set[str]:
    """Top-level names installed here (the development virtualenv) that an image with only
    `distributions` would not have."""
    everything = {package for _, package in MEMBERS.values()}
    everything |= set(importlib.metadata.packages_distributions())
    return everything - top_level_modules(distributions)
