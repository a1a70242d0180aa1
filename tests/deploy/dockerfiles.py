"""The Dockerfiles, read with Docker's own (BuildKit) parser, and the .dockerignore that shapes
their build context (the repository root)."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]  # a compiled module without stubs

from tests.deploy.compose import ROOT

DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    name: str  # upper case: FROM, RUN, COPY ...
    flags: tuple[str, ...]
    values: tuple[str, ...]
    json: bool
    original: str

    def flag(self, name: str) -> str | None:
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, name: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.name == name]

    def env(self) -> dict[str, str]:
        """ENV in this stage (BuildKit hands ENV as name/value pairs)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            pairs = instruction.values
            for index in range(0, len(pairs) - 1, 2):
                values[pairs[index]] = pairs[index + 1]
        return values


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # ARGs before the first FROM, with their defaults
    stages: list[Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def pip_installs(self, stage: Stage) -> list[list[str]]:
        """The arguments of every `pip install` its RUN lines make (shell-split)."""
        installs = []
        for run in stage.all("RUN"):
            for command in re.split(r"&&|;|\|\|", " ".join(run.values)):
                words = shlex.split(command)
                for index, word in enumerate(words):
                    if word.endswith("pip") and words[index + 1 : index + 2] == ["install"]:
                        installs.append(words[index + 2 :])
        return installs

    def installed_members(self) -> list[tuple[Path, set[str]]]:
        """The workspace members the builder installs (`./libs/bunri[worker]` ...), as
        (folder, extras)."""
        members = []
        for stage in self.stages[:-1]:
            for arguments in self.pip_installs(stage):
                for argument in arguments:
                    if argument.startswith("./"):
                        match = re.fullmatch(
                            r"\./(?P<path>[^\[\]]+)(?:\[(?P<extras>.*)\])?", argument
                        )
                        assert match, argument
                        extras = {e.strip() for e in (match["extras"] or "").split(",") if e}
                        members.append((ROOT / match["path"], extras))
        return members

    def entrypoint(self) -> list[str]:
        found = self.runtime.all("ENTRYPOINT")
        assert found, f"{self.path}: no ENTRYPOINT"
        assert found[-1].json, f"{self.path}: ENTRYPOINT must be exec form (JSON)"
        return list(found[-1].values)

    def cmd(self) -> list[str]:
        found = self.runtime.all("CMD")
        return list(found[-1].values) if found else []


@cache
def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for command in dockerfile.parse_file(str(path)):
        instruction = Instruction(
            command.cmd.upper(), command.flags, command.value, command.json, command.original
        )
        if instruction.name == "FROM":
            base = _expand(instruction.values[0], args)
            name = instruction.values[2] if len(instruction.values) == 3 else None
            stages.append(Stage(name, base))
        elif not stages:
            if instruction.name == "ARG":
                name, _, default = instruction.values[0].partition("=")
                args[name] = default
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, args, stages)


def _expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda match: args.get(match[1], match[0]), value)


def console_scripts(member: Path) -> dict[str, str]:
    """[project.scripts] of a workspace member."""
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    scripts: dict[str, str] = project.get("scripts", {})
    return scripts


# .dockerignore: Docker's rules (Go's filepath.Match plus `**`; the last matching line wins; a
# `!` line re-includes). A path is excluded when it or a folder above it matches.
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            if pattern.startswith("/", index):
                parts[-1] = "(?:.*/)?"
                index += 1
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            parts.append("[" + pattern[index + 1 : end].replace("!", "^", 1) + "]")
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


@cache
def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((include, _pattern_regex(pattern)))
    return rules


def in_build_context(relative: str) -> bool:
    """Whether the file or folder at `relative` (to the repository root) reaches the builder."""
    parts = Path(relative).parts
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    excluded = False
    for include, pattern in _ignore_rules():
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not include
    return not excluded


def dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (hidden folders, such as .venv, aside)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if not name.startswith((".", "__"))]
        found += [Path(folder) / name for name in files if name == "Dockerfile"]
    return sorted(found)
