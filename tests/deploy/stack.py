"""Which compose service runs which Bunri deployable, and what each container starts with: its
image's ENV overlaid by its compose environment, interpolated from an env file."""

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
from bunri.messaging.relay import RelaySettings
from bunri.reaper.settings import ReaperSettings
from bunri.settings import BunriSettings
from chat_api.settings import ChatApiSettings
from scan_api.settings import ScanApiSettings
from storage_worker.settings import StorageWorkerSettings
from tests.deploy import compose
from tests.deploy.compose import ROOT
from tests.deploy.dockerfiles import Dockerfile, parse


@dataclass(frozen=True)
class Deployable:
    dockerfile: str  # relative to the repository root
    settings: type[BunriSettings]  # what its process reads its BUNRI_* variables into


# Every compose service built from this repository. A new one must be added here, or the tests
# that check services against this table fail.
DEPLOYABLES: dict[str, Deployable] = {
    "auth-api": Deployable("services/auth-api/Dockerfile", AuthApiSettings),
    "scan-api": Deployable("services/scan-api/Dockerfile", ScanApiSettings),
    "chat-api": Deployable("services/chat-api/Dockerfile", ChatApiSettings),
    "storage-worker": Deployable("workers/storage/Dockerfile", StorageWorkerSettings),
    "ai-worker": Deployable("workers/ai/Dockerfile", AiWorkerSettings),
    "migrate": Deployable("libs/bunri/Dockerfile", BunriSettings),  # bunri db upgrade
    "reaper": Deployable("libs/bunri/Dockerfile", ReaperSettings),
    "outbox-relay": Deployable("libs/bunri/Dockerfile", RelaySettings),
}

API_PORT_FIELDS = {
    "auth-api": "auth_api_port",
    "scan-api": "scan_api_port",
    "chat-api": "chat_api_port",
}


def dockerfile_of(service: str) -> Dockerfile:
    return parse(ROOT / DEPLOYABLES[service].dockerfile)


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
    env = dict(dockerfile_of(service).runtime.env()) if service in DEPLOYABLES else {}
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

    from bunri.cli import app

    result = CliRunner().invoke(app, [*arguments, "--help"])
    if result.exit_code != 0 or "Usage:" not in result.output:
        raise UnknownCommand(f"bunri {' '.join(arguments)}: {result.output}")
