"""Every Dockerfile, read with Docker's own parser: multi-stage, an unprivileged runtime user,
COPY sources that exist and reach the build context, pinned installs of exactly the members the
image runs, torch only in the AI image, and nothing imported that the image does not install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.compose import ROOT
from tests.deploy.dockerfiles import (
    Stage,
    console_scripts,
    dockerfiles,
    in_build_context,
    parse,
)
from tests.deploy.packages import MEMBERS, closure, foreign_modules, member_name
from tests.deploy.stack import API_PORT_FIELDS, DEPLOYABLES

DOCKERFILES = dockerfiles()
IDS = [str(path.parent.relative_to(ROOT)) for path in DOCKERFILES]
AI_DOCKERFILE = ROOT / "workers" / "ai" / "Dockerfile"

# What each image must be able to import: its entry points' modules, and the modules they load
# by name (the app factories uvicorn imports, the Celery apps `celery -A` imports).
IMPORTED_BY_NAME: dict[str, list[str]] = {
    "libs/bunri": ["bunri.reaper.run", "bunri.messaging.relay", "bunri.migrations"],
    "services/auth-api": ["auth_api.app"],
    "services/scan-api": ["scan_api.app"],
    "services/chat-api": ["chat_api.app"],
    "workers/storage": ["storage_worker.app"],
    "workers/ai": ["ai_worker.app"],
}


def test_every_deployable_has_a_dockerfile() -> None:
    expected = {str(folder.relative_to(ROOT)) for folder, _ in MEMBERS.values()}
    assert set(IDS) == expected
    assert {deployable.dockerfile for deployable in DEPLOYABLES.values()} <= {
        str(path.relative_to(ROOT)) for path in DOCKERFILES
    }


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_is_multi_stage_with_a_runtime_that_installs_nothing(path: Path) -> None:
    image = parse(path)
    assert len(image.stages) >= 2, f"{path}: a builder stage and a runtime stage"
    builders = {stage.name for stage in image.stages[:-1]}
    copied_from = {instruction.flag("from") for instruction in image.runtime.all("COPY")}
    assert copied_from & builders, f"{path}: the runtime stage copies nothing from a builder"
    assert image.pip_installs(image.runtime) == [], f"{path}: install in the builder stage"
    assert image.runtime.base.endswith("-slim-bookworm"), f"{path}: a slim runtime base"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_runtime_runs_as_an_unprivileged_user(path: Path) -> None:
    image = parse(path)
    users = image.runtime.all("USER")
    assert users, f"{path}: no USER in the runtime stage (it would run as root)"
    user = users[-1].values[0].split(":")[0]
    assert user not in ("root", "0"), f"{path}: USER {user}"
    position = image.runtime.instructions.index(users[-1])
    assert not any(
        instruction.name == "RUN" for instruction in image.runtime.instructions[position:]
    ), f"{path}: RUN after USER runs as the user; set up before it"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_copy_sources_exist_and_reach_the_build_context(path: Path) -> None:
    image = parse(path)
    stage_names = [stage.name for stage in image.stages]
    for index, stage in enumerate(image.stages):
        for instruction in stage.all("COPY") + stage.all("ADD"):
            source_stage = instruction.flag("from")
            if source_stage is not None:
                assert source_stage in stage_names[:index], (
                    f"{path}: {instruction.original} copies from no earlier stage"
                )
                continue
            for source in instruction.values[:-1]:
                assert (ROOT / source).exists(), f"{path}: {source} does not exist"
                assert in_build_context(source), f"{path}: .dockerignore leaves out {source}"


def _copied(stage: Stage) -> set[str]:
    """Where a stage's COPYs put things from the build context, relative to its WORKDIR."""
    found = set()
    for instruction in stage.all("COPY"):
        if instruction.flag("from") is not None:
            continue
        *sources, destination = instruction.values
        for source in sources:
            target = destination + Path(source).name if destination.endswith("/") else destination
            found.add(str(Path(target)))
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_installs_are_pinned_and_of_copied_members(path: Path) -> None:
    image = parse(path)
    for stage in image.stages[:-1]:
        copied = _copied(stage)
        for arguments in image.pip_installs(stage):
            assert "--constraint" in arguments or "-c" in arguments, (
                f"{path}: pip install {' '.join(arguments)} is not pinned by constraints.txt"
            )
            assert "constraints.txt" in copied, f"{path}: constraints.txt is not copied in"
            assert "-e" not in arguments, path
            assert "--editable" not in arguments, path
    for member, extras in image.installed_members():
        relative = str(member.relative_to(ROOT))
        assert (member / "pyproject.toml").exists(), f"{path}: {relative} is no package"
        copied_members = {path for stage in image.stages[:-1] for path in _copied(stage)}
        assert relative in copied_members, f"{path}: installs {relative} without copying it"
        project = member_name(member)
        for extra in extras:
            optional = tomllib.loads((member / "pyproject.toml").read_text())["project"].get(
                "optional-dependencies", {}
            )
            assert extra in optional, f"{path}: {project} has no extra [{extra}]"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_installs_its_own_member_and_only_what_it_runs(path: Path) -> None:
    image = parse(path)
    installed = {member.relative_to(ROOT) for member, _ in image.installed_members()}
    own = path.parent.relative_to(ROOT)
    assert own in installed, f"{path}: does not install {own}"
    others = installed - {own, Path("libs/bunri")}
    assert others == set(), f"{path}: installs other deployables {sorted(map(str, others))}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_entry_point_is_a_script_the_image_installs(path: Path) -> None:
    image = parse(path)
    scripts: dict[str, str] = {}
    for member, _ in image.installed_members():
        scripts.update(console_scripts(member))
    entrypoint = image.entrypoint()
    assert entrypoint[0] in console_scripts(path.parent), (
        f"{path}: ENTRYPOINT {entrypoint[0]!r} is not one of its package's scripts"
    )
    assert entrypoint[0] in scripts


def _image_closure(path: Path) -> set[str]:
    image = parse(path)
    return closure((member_name(member), extras) for member, extras in image.installed_members())


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_only_the_ai_image_has_torch(path: Path) -> None:
    image = parse(path)
    mentions = [
        run.original
        for stage in image.stages
        for run in stage.all("RUN")
        if "torch" in run.original
    ]
    if path == AI_DOCKERFILE:
        assert "torch" in _image_closure(path)
        assert mentions, f"{path}: torch comes in a step of its own"
        assert all("https://download.pytorch.org/whl/cpu" in run for run in mentions), (
            f"{path}: torch from PyTorch's CPU index, not PyPI's CUDA build"
        )
    else:
        assert "torch" not in _image_closure(path), f"{path}: torch came in with a dependency"
        assert mentions == [], f"{path}: mentions torch"


def _import_with_only(
    modules: list[str], distributions: set[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Import `modules` in a process where every package outside `distributions` is hidden."""
    hidden = sorted(foreign_modules(distributions))
    code = (
        "import importlib, importlib.abc, json, sys\n"
        f"hidden = set({json.dumps(hidden)})\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in hidden:\n"
        "            raise ModuleNotFoundError(f'{name} is not installed in this image')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hide())\n"
        f"for module in {json.dumps(modules)}:\n"
        "    importlib.import_module(module)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "BUNRI_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_the_image_imports_nothing_it_does_not_install(path: Path, tmp_path: Path) -> None:
    """Its modules import with every package outside the image's dependency closure hidden."""
    image = parse(path)
    modules = [
        script.partition(":")[0]
        for member, _ in image.installed_members()
        for script in console_scripts(member).values()
    ]
    modules += IMPORTED_BY_NAME[str(path.parent.relative_to(ROOT))]
    result = _import_with_only(modules, _image_closure(path), tmp_path)
    assert result.returncode == 0, f"{path}: {result.stderr[-3000:]}"


def test_the_import_check_can_fail(tmp_path: Path) -> None:
    """scan-api's image has no Celery: the storage worker's app does not import there."""
    scan_api = _image_closure(ROOT / "services/scan-api/Dockerfile")
    result = _import_with_only(["storage_worker.app"], scan_api, tmp_path)
    assert result.returncode != 0
    assert "is not installed in this image" in result.stderr


@pytest.mark.parametrize("service", sorted(API_PORT_FIELDS))
def test_api_images_listen_on_all_interfaces_at_their_port(service: str) -> None:
    image = parse(ROOT / DEPLOYABLES[service].dockerfile)
    env = image.runtime.env()
    field = API_PORT_FIELDS[service]
    port = env.get("BUNRI_" + field.upper())
    assert port is not None, f"{service}: set BUNRI_{field.upper()}"
    host = env.get("BUNRI_" + field.upper().replace("_PORT", "_HOST"))
    assert host == "0.0.0.0", f"{service} listens on {host} only"  # noqa: S104 (in a container)
    exposed = [value for expose in image.runtime.all("EXPOSE") for value in expose.values]
    assert exposed == [port], f"{service}: EXPOSE {exposed}, listens on {port}"


def test_dockerignore_keeps_local_state_and_tests_out() -> None:
    for path in (
        ".venv/bin/python",
        ".bunri/journal/storage-worker.sqlite3",
        ".env",
        ".git/HEAD",
        "tests/data/make_corpus.py",
        "bench/e2e.py",
        "libs/bunri/src/bunri/__pycache__/cli.cpython-311.pyc",
        "workers/ai/.venv/bin/python",
    ):
        assert not in_build_context(path), f"{path} would be sent to the builder"
    for path in ("constraints.txt", "libs/bunri/pyproject.toml", "workers/ai/src/ai_worker"):
        assert in_build_context(path), f"{path} is needed by the builds"


def test_the_build_context_is_small() -> None:
    total = 0
    for folder, subfolders, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT)
        subfolders[:] = [name for name in subfolders if in_build_context(str(relative / name))]
        total += sum(
            (Path(folder) / name).stat().st_size
            for name in files
            if in_build_context(str(relative / name))
        )
    assert total < 20 * 1024 * 1024, f"the build context is {total / 1e6:.1f} MB"
