"""docker-compose.yml as compose reads it: YAML (anchors and merge keys resolved), then the
`${...}` interpolation from an env file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+other}
_BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


class InterpolationError(ValueError):
    """A required variable (`${NAME:?...}`) is missing."""


@dataclass(frozen=True)
class Reference:
    """A variable the file interpolates, and how."""

    name: str
    required: bool  # `:?` or `?`: compose refuses to start without it
    has_default: bool


@cache
def compose_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose_file()["services"]
    return found


def references() -> list[Reference]:
    """Every `${...}` in the file (comments aside: they are not YAML)."""
    found = []
    for value in _strings(compose_file()):
        for match in _BRACED.finditer(value.replace("$$", "")):
            op = match["op"] or ""
            found.append(Reference(match["name"], "?" in op, "-" in op))
    return found


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def braced(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        current = env.get(name)
        missing = current is None or (op.startswith(":") and current == "")
        if op.endswith("?") and missing:
            raise InterpolationError(f"{name}: {arg}")
        if op.endswith("-") and missing:
            return arg
        if op.endswith("+"):
            return "" if missing else arg
        return current or ""

    escaped = value.split("$$")
    return "$".join(
        _BARE.sub(lambda match: env.get(match["name"], ""), _BRACED.sub(braced, part))
        for part in escaped
    )


def environment(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The service's `environment:` as its container gets it."""
    declared = services()[service].get("environment") or {}
    assert isinstance(declared, dict), f"{service}: environment must be a mapping"
    return {name: interpolate(str(value), env) for name, value in declared.items()}


def argv(value: Any) -> list[str] | None:
    """A command or entrypoint in exec form (a list); a string would go through a shell."""
    if value is None:
        return None
    assert isinstance(value, list), f"use the exec form (a list), not {value!r}"
    return [str(item) for item in value]


def healthcheck_argv(service: str) -> list[str]:
    test = argv(services()[service]["healthcheck"]["test"])
    assert test is not None
    assert test[0] == "CMD", f"{service}: healthcheck must be exec form ['CMD', ...]"
    return test[1:]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return []
