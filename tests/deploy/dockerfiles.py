"""The root Dockerfile, read with Docker's own (BuildKit) parser and built on paper: an `Image`
is what `docker build --build-arg ...` makes of it (the args expanded, only the stages the target
reaches); and the .dockerignore that shapes the build context (the repository root)."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]  # a compiled module without stubs

from tests.deploy.compose import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The root Dockerfile's ENTRYPOINT: a shell that execs the console script ENTRY_POINT
# names (an exec-form ENTRYPOINT takes no variables). `Image.entrypoint` reads through it.
EXEC_WRAPPER = ("/bin/sh", "-c", 'exec "$ENTRY_POINT" "$@"', "entrypoint")

# Instructions whose words are expanded ($VAR, ${VAR}) with the stage's ARGs and ENV: those Docker
# expands, and RUN, whose shell expands them from the same variables (the same words, for what is
# checked here). ENTRYPOINT, CMD and HEALTHCHECK stay as written, as in the image.
_EXPANDED = {
    "ADD",
    "COPY",
    "ENV",
    "EXPOSE",
    "LABEL",
    "RUN",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
}


class BuildError(Exception):
    """The build args make no image: one the build uses is unset, or one is never used."""


@dataclass
class Instruction:
    name: str  # upper case: FROM, RUN, COPY ...
    flags: tuple[str, ...]
    values: tuple[str, ...]
    json: bool
    original: str
    stage: int = -1  # the index of the stage it belongs to, once built

    def flag(self, name: str) -> str | None:
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None


@dataclass
class Stage:
    """A stage as written."""

    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """The file as written: ARGs before the first FROM (with their defaults, None for none), and
    the stages."""

    path: Path
    args: dict[str, str | None]
    stages: list[Stage]

    def index(self, name: str) -> int | None:
        return next((i for i, stage in enumerate(self.stages) if stage.name == name), None)


@dataclass
class BuiltStage:
    """A stage as built: the instructions of every stage it stands on (`FROM another-stage`) and
    its own, expanded, from the one on an outside image up."""

    chain: list[str | None]  # the stages' names, the one on an outside image first
    base: str  # that outside image
    instructions: list[Instruction]

    def all(self, name: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.name == name]

    def env(self) -> dict[str, str]:
        """ENV of the stage and those below it (BuildKit hands ENV as name/value pairs)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            pairs = instruction.values
            for index in range(0, len(pairs) - 1, 2):
                values[pairs[index]] = pairs[index + 1]
        return values


@dataclass
class Image:
    """What one set of build args makes of the Dockerfile."""

    name: str  # for messages: the image's name, or the Dockerfile's path
    build_args: dict[str, str]
    runtime: BuiltStage  # the target: the last stage
    builders: list[BuiltStage]  # the stages the runtime copies from (and those they copy from)

    @property
    def stages(self) -> list[BuiltStage]:
        return [*self.builders, self.runtime]

    def pip_installs(self, stage: BuiltStage) -> list[list[str]]:
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
        """The workspace members the builders install (`./libs/bunri[worker]` ...), as
        (folder, extras)."""
        members = []
        for stage in self.builders:
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
        """The program the container starts, read through the exec wrapper."""
        found = self.runtime.all("ENTRYPOINT")
        assert found, f"{self.name}: no ENTRYPOINT"
        assert found[-1].json, f"{self.name}: ENTRYPOINT must be exec form (JSON)"
        argv = list(found[-1].values)
        if tuple(argv) == EXEC_WRAPPER:
            program = self.runtime.env().get("ENTRY_POINT", "")
            assert program, f"{self.name}: ENTRY_POINT names no program"
            return [program]
        return argv

    def cmd(self) -> list[str]:
        found = self.runtime.all("CMD")
        if not found:
            return []
        entrypoints = self.runtime.all("ENTRYPOINT")
        if entrypoints:
            # An ENTRYPOINT resets the CMD its stage inherits; one set in its own stage stays.
            position = self.runtime.instructions.index
            earlier = position(found[-1]) < position(entrypoints[-1])
            if earlier and found[-1].stage != entrypoints[-1].stage:
                return []
        return list(found[-1].values)


@cache
def parse(path: Path = DOCKERFILE) -> Dockerfile:
    args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for command in dockerfile.parse_file(str(path)):
        instruction = Instruction(
            command.cmd.upper(), command.flags, command.value, command.json, command.original
        )
        if instruction.name == "FROM":
            name = instruction.values[2] if len(instruction.values) == 3 else None
            stages.append(Stage(name, instruction.values[0]))
        elif not stages:
            if instruction.name == "ARG":
                for declared in instruction.values:
                    name, equals, default = declared.partition("=")
                    args[name] = default if equals else None
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, args, stages)


def _expand(value: str, variables: Mapping[str, str | None], where: str) -> str:
    """$NAME and ${NAME} from `variables`; a name it does not hold (such as $PATH, the base
    image's) stays as written. A declared ARG that nothing sets is an error: Docker would expand
    it to nothing."""

    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        if name not in variables:
            return match[0]
        found = variables[name]
        if found is None:
            raise BuildError(f"{where}: build arg {name} is required")
        return found

    return re.sub(r"\$(?:\{(?P<braced>\w+)\}|(?P<bare>\w+))", substitute, value)


def build(build_args: Mapping[str, str], path: Path = DOCKERFILE, name: str | None = None) -> Image:
    """The image `docker build --build-arg NAME=VALUE ...` makes of the Dockerfile at `path` (its
    last stage is the target), on paper."""
    written = parse(path)
    label = name or str(path.relative_to(ROOT))
    global_args = {arg: build_args.get(arg, default) for arg, default in written.args.items()}
    used: set[str] = set()
    built: dict[int, BuiltStage] = {}

    def build_stage(index: int) -> BuiltStage:
        if index in built:
            return built[index]
        stage = written.stages[index]
        where = f"{label} (stage {stage.name or index})"
        used.update(re.findall(r"\$\{?(\w+)", stage.base))
        base = _expand(stage.base, global_args, where)
        parent_index = written.index(base)
        if parent_index is not None:
            if parent_index >= index:
                raise BuildError(f"{where}: FROM {base} is no earlier stage")
            # ENV is the image's, so the stage on top inherits it; ARGs are the stage's own.
            parent = build_stage(parent_index)
            chain, outside = [*parent.chain, stage.name], parent.base
            instructions = list(parent.instructions)
            variables: dict[str, str | None] = dict(parent.env())
        else:
            chain, outside, instructions, variables = [stage.name], base, [], {}
        for instruction in stage.instructions:
            if instruction.name == "ARG":
                for declared in instruction.values:
                    arg, equals, default = declared.partition("=")
                    used.add(arg)
                    if arg in build_args:
                        variables[arg] = build_args[arg]
                    elif equals:
                        variables[arg] = _expand(default, variables, where)
                    else:
                        variables[arg] = global_args.get(arg)
                continue
            if instruction.name in _EXPANDED:
                instruction = replace(
                    instruction,
                    values=tuple(_expand(v, variables, where) for v in instruction.values),
                    flags=tuple(_expand(f, variables, where) for f in instruction.flags),
                )
            instruction = replace(instruction, stage=index)
            if instruction.name == "ENV":
                pairs = instruction.values
                variables.update({pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2)})
            instructions.append(instruction)
        built[index] = BuiltStage(chain, outside, instructions)
        return built[index]

    target = len(written.stages) - 1
    runtime = build_stage(target)
    builders: list[BuiltStage] = []
    pending = [runtime]
    while pending:
        stage = pending.pop()
        for copy in stage.all("COPY") + stage.all("ADD"):
            source = copy.flag("from")
            if source is None:
                continue
            source_index = written.index(source)
            if source_index is None or source_index >= copy.stage:
                raise BuildError(f"{label}: {copy.original} copies from no earlier stage")
            builder = build_stage(source_index)
            if builder not in builders and builder is not runtime:
                builders.append(builder)
                pending.append(builder)
    unused = set(build_args) - used
    if unused:
        raise BuildError(f"{label}: no stage it builds uses the build args {sorted(unused)}")
    return Image(label, dict(build_args), runtime, builders)


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
