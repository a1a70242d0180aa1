"""The root Dockerfile, read with Docker's own parser and built on paper with each image's build
args from docker-compose.yml: multi-stage, an unprivileged runtime user, COPY sources that exist
and reach the build context, pinned installs of exactly the members the image runs, torch only in
the AI image, and nothing imported that the image does not install. Wrong build args fail these
checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.compose import ROOT
from tests.deploy.dockerfiles import (
    DOCKERFILE,
    EXEC_WRAPPER,
    BuildError,
    BuiltStage,
    Image,
    build,
    console_scripts,
    dockerfiles,
    in_build_context,
)
from tests.deploy.packages import LIBRARIES, MEMBERS, closure, foreign_modules, member_name
from tests.deploy.stack import API_PORT_FIELDS, DEPLOYABLES, build_args, image_name, image_of

# One service per image (the ops image serves three): the image's name -> that service.
IMAGES = {image_name(service): service for service in sorted(DEPLOYABLES)}
NAMES = sorted(IMAGES)
AI_MEMBER = ROOT / "workers" / "ai"

# What each image must be able to import: its entry points' modules, and the modules they load
# by name (the app factories uvicorn imports, the Celery apps `celery -A` imports).
IMPORTED_BY_NAME: dict[str, list[str]] = {
    "programs": ["bunri_programs.reaper.run", "bunri_programs.relay", "bunri.migrations"],
    "services/auth-api": ["auth_api.app"],
    "services/scan-api": ["scan_api.app"],
    "services/chat-api": ["chat_api.app"],
    "services/my-api": ["my_api.app"],
    "services/character-api": ["character_api.app"],
    "services/location-api": ["location_api.app"],
    "services/info-api": ["info_api.app"],
    "workers/storage": ["storage_worker.app"],
    "workers/ai": ["ai_worker.app"],
    "workers/character": ["character_worker.app"],
}

Check = Callable[[Image, Path], None]


def _member(service: str) -> Path:
    return ROOT / DEPLOYABLES[service].member


# The checks: each takes an image and the member it must run, and fails with an AssertionError.


def check_multi_stage_with_a_runtime_that_installs_nothing(image: Image, member: Path) -> None:
    assert image.builders, f"{image.name}: a builder stage and a runtime stage"
    builders = {name for stage in image.builders for name in stage.chain}
    copied_from = {instruction.flag("from") for instruction in image.runtime.all("COPY")}
    assert copied_from & builders, f"{image.name}: the runtime stage copies nothing from a builder"
    assert image.pip_installs(image.runtime) == [], f"{image.name}: install in the builder stage"
    assert image.runtime.base.endswith("-slim-bookworm"), f"{image.name}: a slim runtime base"


def check_the_runtime_runs_as_an_unprivileged_user(image: Image, member: Path) -> None:
    users = image.runtime.all("USER")
    assert users, f"{image.name}: no USER in the runtime stage (it would run as root)"
    user = users[-1].values[0].split(":")[0]
    assert user not in ("root", "0"), f"{image.name}: USER {user}"
    position = image.runtime.instructions.index(users[-1])
    assert not any(
        instruction.name == "RUN" for instruction in image.runtime.instructions[position:]
    ), f"{image.name}: RUN after USER runs as the user; set up before it"


def check_volumes_are_made_for_the_user(image: Image, member: Path) -> None:
    """A fresh named volume takes the owner of the directory it mounts on."""
    instructions = image.runtime.instructions
    for volume in image.runtime.all("VOLUME"):
        made = " ".join(
            " ".join(run.values)
            for run in instructions[: instructions.index(volume)]
            if run.name == "RUN"
        )
        assert "install -d -o bunri -g bunri" in made, f"{image.name}: volumes owned by root"
        for path in volume.values:
            assert path in made, f"{image.name}: VOLUME {path} is not made, for the user, before it"


def check_copy_sources_exist_and_reach_the_build_context(image: Image, member: Path) -> None:
    for stage in image.stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            if instruction.flag("from") is not None:
                continue  # build() refuses one that names no earlier stage
            for source in instruction.values[:-1]:
                assert source, f"{image.name}: {instruction.original} copies nothing"
                assert (ROOT / source).exists(), f"{image.name}: {source} does not exist"
                assert in_build_context(source), f"{image.name}: .dockerignore leaves out {source}"


def _copied(stage: BuiltStage) -> set[str]:
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


def check_installs_are_pinned_and_of_copied_members(image: Image, member: Path) -> None:
    for stage in image.builders:
        copied = _copied(stage)
        for arguments in image.pip_installs(stage):
            assert "--constraint" in arguments or "-c" in arguments, (
                f"{image.name}: pip install {' '.join(arguments)} is not pinned by constraints.txt"
            )
            assert "constraints.txt" in copied, f"{image.name}: constraints.txt is not copied in"
            editable = {"-e", "--editable"} & set(arguments)
            assert not editable, f"{image.name}: editable, it needs /src, which the runtime lacks"
    copied_members = {path for stage in image.builders for path in _copied(stage)}
    for installed, extras in image.installed_members():
        relative = str(installed.relative_to(ROOT))
        assert (installed / "pyproject.toml").exists(), f"{image.name}: {relative} is no package"
        assert relative in copied_members, f"{image.name}: installs {relative} without copying it"
        project = member_name(installed)
        optional = tomllib.loads((installed / "pyproject.toml").read_text())["project"].get(
            "optional-dependencies", {}
        )
        for extra in extras:
            assert extra in optional, f"{image.name}: {project} has no extra [{extra}]"


def check_installs_its_own_member_and_only_what_it_runs(image: Image, member: Path) -> None:
    installed = {path.relative_to(ROOT) for path, _ in image.installed_members()}
    own = member.relative_to(ROOT)
    assert own in installed, f"{image.name}: does not install {own}"
    # Beside its own member: the library, and the programs member for the `bunri` command (a
    # worker's health check is `bunri worker alive`), without the extra that brings every service.
    others = installed - {own, Path("libs/bunri"), Path("programs")}
    assert others == set(), f"{image.name}: installs other deployables {sorted(map(str, others))}"
    for path, extras in image.installed_members():
        if path == ROOT / "programs":
            assert extras == set(), (
                f"{image.name}: programs[{','.join(sorted(extras))}] is standalone's"
            )


def check_the_entry_point_is_a_script_the_image_installs(image: Image, member: Path) -> None:
    scripts: dict[str, str] = {}
    for installed, _ in image.installed_members():
        scripts.update(console_scripts(installed))
    entrypoint = image.entrypoint()
    assert entrypoint[0] in console_scripts(member), (
        f"{image.name}: ENTRYPOINT {entrypoint[0]!r} is not one of its package's scripts"
    )
    assert entrypoint[0] in scripts


def _image_closure(image: Image) -> set[str]:
    return closure((member_name(path), extras) for path, extras in image.installed_members())


def check_only_the_ai_image_has_torch(image: Image, member: Path) -> None:
    mentions = [
        " ".join(run.values)
        for stage in image.stages
        for run in stage.all("RUN")
        if "torch" in " ".join(run.values)
    ]
    if member == AI_MEMBER:
        assert "torch" in _image_closure(image)
        assert mentions, f"{image.name}: torch comes in a step of its own"
        assert all("https://download.pytorch.org/whl/cpu" in run for run in mentions), (
            f"{image.name}: torch from PyTorch's CPU index, not PyPI's CUDA build"
        )
    else:
        assert "torch" not in _image_closure(image), (
            f"{image.name}: torch came in with a dependency"
        )
        assert mentions == [], f"{image.name}: mentions torch"


def _import_with_only(
    modules: list[str], distributions: set[str], state_dir: Path
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
        env={**os.environ, "BUNRI_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def check_the_image_imports_nothing_it_does_not_install(image: Image, member: Path) -> None:
    """Its modules import with every package outside the image's dependency closure hidden."""
    modules = [
        script.partition(":")[0]
        for installed, _ in image.installed_members()
        for script in console_scripts(installed).values()
    ]
    modules += IMPORTED_BY_NAME[str(member.relative_to(ROOT))]
    with tempfile.TemporaryDirectory() as state_dir:
        result = _import_with_only(modules, _image_closure(image), Path(state_dir))
    assert result.returncode == 0, f"{image.name}: {result.stderr[-3000:]}"


CHECKS: list[Check] = [
    check_multi_stage_with_a_runtime_that_installs_nothing,
    check_the_runtime_runs_as_an_unprivileged_user,
    check_volumes_are_made_for_the_user,
    check_copy_sources_exist_and_reach_the_build_context,
    check_installs_are_pinned_and_of_copied_members,
    check_installs_its_own_member_and_only_what_it_runs,
    check_the_entry_point_is_a_script_the_image_installs,
    check_only_the_ai_image_has_torch,
    check_the_image_imports_nothing_it_does_not_install,
]


def test_one_dockerfile_builds_every_image() -> None:
    assert dockerfiles() == [DOCKERFILE], "build every image from the root Dockerfile"


def test_every_deployable_has_an_image() -> None:
    """Every member that is run has an image; a library (imported, never run) has none."""
    expected = {folder for folder, _ in MEMBERS.values() if folder not in LIBRARIES}
    assert {_member(service) for service in IMAGES.values()} == expected


@pytest.mark.parametrize(
    "check", CHECKS, ids=[check.__name__.removeprefix("check_") for check in CHECKS]
)
@pytest.mark.parametrize("name", NAMES)
def test_image(name: str, check: Check) -> None:
    service = IMAGES[name]
    check(image_of(service), _member(service))


def test_the_entry_point_wrapper_execs_the_script_with_the_containers_arguments(
    tmp_path: Path,
) -> None:
    """The shell gives way to the script (which is then PID 1, and gets the signals), and every
    argument reaches it as it came."""
    for service in IMAGES.values():
        entrypoint = image_of(service).runtime.all("ENTRYPOINT")[-1]
        assert tuple(entrypoint.values) == EXEC_WRAPPER, service
    script = tmp_path / "bunri-fake"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$$" "$@"\n')
    script.chmod(0o755)
    arguments = ["worker", "alive", "a b", ""]
    process = subprocess.Popen(
        [*EXEC_WRAPPER, *arguments],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", "ENTRY_POINT": "bunri-fake"},
        stdout=subprocess.PIPE,
        text=True,
    )
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    pid, *received = output.split("\n")[:-1]
    assert int(pid) == process.pid, "the script runs under the shell instead of replacing it"
    assert received == arguments


def _with(service: str, changes: dict[str, str | None]) -> Image:
    """The service's image built with some of its args changed (None: left out)."""
    args = build_args(service)
    for arg, value in changes.items():
        if value is None:
            args.pop(arg)
        else:
            args[arg] = value
    return build(args, name=f"{image_name(service)} {changes}")


WRONG_ARGS = [
    pytest.param(
        "scan-api", {"TORCH": "cpu"}, check_only_the_ai_image_has_torch, id="torch-in-an-api"
    ),
    pytest.param(
        "ai-worker", {"TORCH": "none"}, check_only_the_ai_image_has_torch, id="ai-without-torch"
    ),
    pytest.param(
        "auth-api",
        {"PACKAGES": "./libs/bunri ./services/scan-api"},
        check_installs_its_own_member_and_only_what_it_runs,
        id="another-member",
    ),
    pytest.param(
        "storage-worker",
        {"PACKAGES": "./libs/bunri[worker] ./programs ./workers/storage ./workers/ai"},
        check_installs_its_own_member_and_only_what_it_runs,
        id="an-extra-member",
    ),
    pytest.param(
        "reaper",
        {"PACKAGES": "./libs/bunri[worker] ./programs[standalone]"},
        check_installs_its_own_member_and_only_what_it_runs,
        id="programs-standalone",
    ),
    pytest.param(
        "chat-api",
        {"PACKAGES": "./libs/bunri ./services/chat-api ./programs[nope]"},
        check_installs_are_pinned_and_of_copied_members,
        id="an-unknown-extra",
    ),
    pytest.param(
        "chat-api",
        {"PACKAGES": "-e ./libs/bunri -e ./services/chat-api"},
        check_installs_are_pinned_and_of_copied_members,
        id="editable",
    ),
    pytest.param(
        "scan-api",
        {"PACKAGES": "./libs/bunri ./services/scan-api ./services/chat-api"},
        check_installs_are_pinned_and_of_copied_members,
        id="not-copied",
    ),
    pytest.param(
        "chat-api",
        {"MEMBER": "services/chat"},
        check_copy_sources_exist_and_reach_the_build_context,
        id="no-such-member",
    ),
    pytest.param(
        "auth-api",
        {"ENTRY_POINT": "bunri-scan-api"},
        check_the_entry_point_is_a_script_the_image_installs,
        id="another-entry-point",
    ),
    pytest.param(
        "storage-worker",
        {
            "MEMBER": "services/scan-api",
            "PACKAGES": "./libs/bunri ./programs ./services/scan-api",
            "ENTRY_POINT": "bunri-scan-api",
        },
        check_the_image_imports_nothing_it_does_not_install,
        id="another-images-args",
    ),
]


@pytest.mark.parametrize(("service", "changes", "check"), WRONG_ARGS)
def test_wrong_build_args_fail_the_checks(
    service: str, changes: dict[str, str | None], check: Check
) -> None:
    image = _with(service, changes)
    with pytest.raises(AssertionError):
        check(image, _member(service))


@pytest.mark.parametrize(
    ("service", "changes", "message"),
    [
        ("auth-api", {"MEMBER": None}, "build arg MEMBER is required"),
        ("auth-api", {"ROLE": None}, "build arg ROLE is required"),
        ("auth-api", {"PORT": None}, "build arg PORT is required"),
        ("storage-worker", {"WORKER_NAME": None}, "build arg WORKER_NAME is required"),
        ("auth-api", {"WORKER_NAME": "auth-api"}, r"uses the build args \['WORKER_NAME'\]"),
        ("ai-worker", {"PORT": "8004"}, r"uses the build args \['PORT'\]"),
        # BuildKit would look for an image role-nope; no stage then uses the builder's args.
        ("scan-api", {"ROLE": "nope"}, r"uses the build args \['ENTRY_POINT', 'MEMBER'"),
    ],
)
def test_build_args_that_make_no_image_are_refused(
    service: str, changes: dict[str, str | None], message: str
) -> None:
    """An arg the build uses and nobody sets, or one set for nothing (a typo, another role's)."""
    with pytest.raises(BuildError, match=message):
        _with(service, changes)


def test_the_import_check_can_fail() -> None:
    """scan-api's image has no Celery: the storage worker's app does not import there."""
    scan_api = _image_closure(image_of("scan-api"))
    with tempfile.TemporaryDirectory() as state_dir:
        result = _import_with_only(["storage_worker.app"], scan_api, Path(state_dir))
    assert result.returncode != 0
    assert "is not installed in this image" in result.stderr


@pytest.mark.parametrize("service", sorted(API_PORT_FIELDS))
def test_api_images_listen_on_all_interfaces_at_their_port(service: str) -> None:
    image = image_of(service)
    env = image.runtime.env()
    field = API_PORT_FIELDS[service]
    port = env.get("BUNRI_" + field.upper())
    assert port is not None, f"{service}: set BUNRI_{field.upper()}"
    host = env.get("BUNRI_" + field.upper().replace("_PORT", "_HOST"))
    assert host == "0.0.0.0", f"{service} listens on {host} only"  # noqa: S104 (in a container)
    exposed = [value for expose in image.runtime.all("EXPOSE") for value in expose.values]
    assert exposed == [port], f"{service}: EXPOSE {exposed}, listens on {port}"


def test_non_api_images_listen_nowhere() -> None:
    for name, service in IMAGES.items():
        if service not in API_PORT_FIELDS:
            assert image_of(service).runtime.all("EXPOSE") == [], name


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
    for path in (
        "constraints.txt",
        "libs/bunri/pyproject.toml",
        "programs/src/bunri_programs",
        "workers/ai/src/ai_worker",
    ):
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
