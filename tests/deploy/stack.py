"""Which compose service runs which Bunri deployable, the image its build args make of the
Dockerfile, and what each container starts with: its image's ENV overlaid by its compose
environment, interpolated from an env file."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dotenv import dotenv_values
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from ai_worker.settings import AiWorkerSettings
from auth_api.settings import AuthApiSettings
from bunri.settings import BunriSettings
from bunri_programs.reaper.settings import ReaperSettings
from bunri_programs.relay import RelaySettings
from bunri_programs.weekly_reports import WeeklyReportSettings
from character_api.settings import CharacterApiSettings
from character_worker.settings import CharacterWorkerSettings
from chat_api.settings import ChatApiSettings
from info_api.settings import InfoApiSettings
from location_api.settings import LocationApiSettings
from my_api.settings import MyApiSettings
from scan_api.settings import ScanApiSettings
from storage_worker.settings import StorageWorkerSettings
from tests.deploy import compose
from tests.deploy.compose import ROOT
from tests.deploy.dockerfiles import Image, build


@dataclass(frozen=True)
class Deployable:
    member: str  # the workspace member its image runs, relative to the repository root
    settings: type[BunriSettings]  # what its process reads its BUNRI_* variables into


# Every compose service built from this repository. A new one must be added here, or the tests
# that check services against this table fail.
DEPLOYABLES: dict[str, Deployable] = {
    "auth-api": Deployable("services/auth-api", AuthApiSettings),
    "scan-api": Deployable("services/scan-api", ScanApiSettings),
    "chat-api": Deployable("services/chat-api", ChatApiSettings),
    "my-api": Deployable("services/my-api", MyApiSettings),
    "character-api": Deployable("services/character-api", CharacterApiSettings),
    "location-api": Deployable("services/location-api", LocationApiSettings),
    "info-api": Deployable("services/info-api", InfoApiSettings),
    "storage-worker": Deployable("workers/storage", StorageWorkerSettings),
    "ai-worker": Deployable("workers/ai", AiWorkerSettings),
    "character-worker": Deployable("workers/character", CharacterWorkerSettings),
    "migrate": Deployable("programs", BunriSettings),  # bunri db upgrade
    "reaper": Deployable("programs", ReaperSettings),
    "outbox-relay": Deployable("programs", RelaySettings),
    "weekly-reports": Deployable("programs", WeeklyReportSettings),
}

API_PORT_FIELDS = {
    "auth-api": "auth_api_port",
    "scan-api": "scan_api_port",
    "chat-api": "chat_api_port",
    "my-api": "my_api_port",
    "character-api": "character_api_port",
    "location-api": "location_api_port",
    "info-api": "info_api_port",
}


def image_name(service: str) -> str:
    """The service's image, without its tag: bunri/auth-api ..."""
    name: str = compose.services()[service]["image"]
    return name.partition(":")[0]


def build_args(service: str) -> dict[str, str]:
    """The build args compose passes when it builds the service's image."""
    declared = compose.services()[service]["build"].get("args") or {}
    assert isinstance(declared, dict), f"{service}: give the build args as a mapping"
    return {
        name: compose.interpolate(str(value), filled_env_file()) for name, value in declared.items()
    }


def image_of(service: str) -> Image:
    """The image compose builds for the service (the root Dockerfile, its build args)."""
    build_file = ROOT / compose.services()[service]["build"]["dockerfile"]
    return build(build_args(service), build_file, image_name(service))


@cache
def filled_env_file() -> dict[str, str]:
    """The .env an operator makes: scripts/compose-env's output (.env.example with every secret
    filled in)."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / ".env"
        subprocess.run([str(ROOT / "scripts" / "compose-env"), str(output)], check=True, timeout=60)
        values = dotenv_values(output)
    return {name: value for name, value in values.items() if value is not None}


def container_env(service: str, env_file: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the service's process finds in its environment: the image's ENV, then compose's."""
    env = dict(image_of(service).runtime.env()) if service in DEPLOYABLES else {}
    env.update(compose.environment(service, filled_env_file() if env_file is None else env_file))
    return env


def settings_field(settings: type[BaseSettings], variable: str) -> str | None:
    """The field `variable` sets, by pydantic-settings' rules (env_prefix, case-insensitive
    names, env_nested_delimiter into nested models); None when it sets nothing."""
    config = settings.model_config
    prefix = config.get("env_prefix") or ""
    delimiter = config.get("env_nested_delimiter")
    assert not config.get("case_sensitive"), "this check assumes case-insensitive names"
    if not variable.upper().startswith(prefix.upper()):
        return None
    parts = variable[len(prefix) :].lower().split(delimiter) if delimiter else [variable.lower()]
    model: type[BaseModel] | None = settings
    path = []
    for part in parts:
        if model is None:
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        aliased = field.alias is not None or field.validation_alias is not None
        assert not aliased, f"{model.__name__}.{part} has an alias: teach this check about it"
        path.append(part)
        annotation = field.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return ".".join(path)


def bunri_variables(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith("BUNRI_")}


class UnknownCommand(Exception):
    """`bunri` would refuse these arguments."""


def parse_bunri_cli(arguments: list[str]) -> None:
    """Have `bunri` parse ARGUMENTS without running anything: with --help appended, the CLI
    resolves the subcommands and parses every option and argument before printing the help, and
    exits 2 on anything it does not know."""
    from typer.testing import CliRunner

    from bunri_programs.cli import app

    result = CliRunner().invoke(app, [*arguments, "--help"])
    if result.exit_code != 0 or "Usage:" not in result.output:
        raise UnknownCommand(f"bunri {' '.join(arguments)}: {result.output}")
