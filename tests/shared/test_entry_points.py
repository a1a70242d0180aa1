"""Every deployable has an entry point; the services start and answer health checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tests.support.servers import free_port, run_process

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("script", "port_variable"),
    [
        ("bunri-scan-api", "BUNRI_SCAN_API_PORT"),
        ("bunri-chat-api", "BUNRI_CHAT_API_PORT"),
        ("bunri-my-api", "BUNRI_MY_API_PORT"),
        ("bunri-character-api", "BUNRI_CHARACTER_API_PORT"),
    ],
)
def test_services_start_and_answer_health_checks(
    script: str,
    port_variable: str,
    database_url: str,
    redis_url: str,
    broker_url: str,
    tmp_path: Path,
) -> None:
    import httpx

    port = free_port()
    env = {
        port_variable: str(port),
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
    }
    url = f"http://127.0.0.1:{port}"
    with run_process(
        [str(BIN / script)], env=env, ready_url=f"{url}/healthz", log_path=tmp_path / "log"
    ):
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"


@pytest.mark.parametrize(
    "script", ["bunri-storage-worker", "bunri-ai-worker", "bunri-character-worker"]
)
def test_worker_entry_points_are_installed(script: str) -> None:
    assert (BIN / script).exists()


def test_auth_api_generates_signing_keys() -> None:
    result = subprocess.run(
        [str(BIN / "bunri-auth-api"), "generate-key"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("-----BEGIN PRIVATE KEY-----")


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [
        (*prefix, command.name or command.callback.__name__)
        for command in group.registered_commands
        if command.callback
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        assert sub.name is not None
        found += _commands(sub.typer_instance, (*prefix, sub.name))
    return found


def test_every_bunri_command_explains_itself() -> None:
    """`--help` of every command, the installed ones (`train`, `evaluate`) too: help text is
    rendered as markup, so a stray `[...]` in it would crash the command for everyone."""
    from typer.testing import CliRunner

    from bunri_programs.cli import add_installed_commands, app

    add_installed_commands()
    commands = _commands(app)
    assert {("train",), ("evaluate",), ("db", "upgrade"), ("standalone",)} <= set(commands)
    for command in [(), *commands]:
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output, result.exception)
        assert "Usage:" in result.output, command
