"""`bunri users grant-role / revoke-role / list-roles`: the only way an account gets a role. They
change the row auth-api reads when it issues a token, say clearly what they did, change nothing
when run twice, and end with exit code 1 for an unknown e-mail or role."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from bunri.db.base import utcnow
from bunri.db.models import User
from bunri_programs.cli import app
from tests.support.users import log_in, sign_up

EMAIL = "operator@example.com"


@pytest.fixture
def bunri_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNRI_ENVIRONMENT", "test")
    monkeypatch.setenv("BUNRI_DATABASE_URL", database_url)
    monkeypatch.setenv("BUNRI_LOG_JSON", "false")


async def bunri(*args: str) -> Result:
    """`bunri ARGS...` (in a thread: the command runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def roles_of(engine: AsyncEngine, email: str) -> list[str]:
    async with engine.connect() as connection:
        roles = await connection.scalar(select(User.roles).where(User.email == email))
    assert roles is not None
    return roles


def token_roles(tokens: dict[str, Any]) -> list[str] | None:
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    roles: list[str] | None = claims.get("roles")
    return roles


pytestmark = pytest.mark.usefixtures("bunri_env")


async def test_grant_and_revoke_reach_the_next_token_and_are_idempotent(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client, EMAIL)
    assert await roles_of(db_engine, EMAIL) == []

    granted = await bunri("users", "grant-role", EMAIL, "--role", "admin")
    assert granted.exit_code == 0, granted.output
    assert f"gave the admin role to {EMAIL}" in granted.output
    assert await roles_of(db_engine, EMAIL) == ["admin"]
    assert token_roles(await log_in(client, EMAIL)) == ["admin"]

    again = await bunri("users", "grant-role", EMAIL.upper(), "--role", "admin")
    assert again.exit_code == 0, again.output
    assert f"{EMAIL} already has the admin role; nothing changed" in again.output
    assert await roles_of(db_engine, EMAIL) == ["admin"]

    listed = await bunri("users", "list-roles")
    assert listed.exit_code == 0, listed.output
    assert f"{EMAIL}\tadmin" in listed.output.splitlines()

    revoked = await bunri("users", "revoke-role", EMAIL, "--role", "admin")
    assert revoked.exit_code == 0, revoked.output
    assert f"took the admin role from {EMAIL}" in revoked.output
    assert await roles_of(db_engine, EMAIL) == []
    assert token_roles(await log_in(client, EMAIL)) is None

    again = await bunri("users", "revoke-role", EMAIL, "--role", "admin")
    assert again.exit_code == 0, again.output
    assert f"{EMAIL} did not have the admin role; nothing changed" in again.output

    listed = await bunri("users", "list-roles")
    assert listed.exit_code == 0, listed.output
    assert EMAIL not in listed.output
    assert "no account has a role" in listed.output


async def test_list_roles_shows_who_has_which(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    for email in ("b@example.com", "a@example.com", "nobody@example.com"):
        await sign_up(client, email)
    for email in ("b@example.com", "a@example.com"):
        assert (await bunri("users", "grant-role", email, "--role", "admin")).exit_code == 0
    listed = await bunri("users", "list-roles")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == ["a@example.com\tadmin", "b@example.com\tadmin"]


@pytest.mark.parametrize("command", ["grant-role", "revoke-role"])
async def test_an_unknown_email_or_role_is_an_error(
    client: httpx.AsyncClient, db_engine: AsyncEngine, command: str
) -> None:
    await sign_up(client, EMAIL)

    unknown_email = await bunri("users", command, "stranger@example.com", "--role", "admin")
    assert unknown_email.exit_code == 1, unknown_email.output
    assert "no account has the e-mail 'stranger@example.com'" in unknown_email.output

    unknown_role = await bunri("users", command, EMAIL, "--role", "superuser")
    assert unknown_role.exit_code == 1, unknown_role.output
    assert "unknown role 'superuser': the roles are admin" in unknown_role.output
    assert await roles_of(db_engine, EMAIL) == []


async def test_an_account_being_deleted_gets_no_role_but_can_lose_one(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client, EMAIL)
    assert (await bunri("users", "grant-role", EMAIL, "--role", "admin")).exit_code == 0
    async with db_engine.begin() as connection:
        await connection.execute(update(User).values(deleted_at=utcnow()))

    refused = await bunri("users", "grant-role", EMAIL, "--role", "admin")
    assert refused.exit_code == 1, refused.output
    assert "is being deleted" in refused.output

    revoked = await bunri("users", "revoke-role", EMAIL, "--role", "admin")
    assert revoked.exit_code == 0, revoked.output
    assert await roles_of(db_engine, EMAIL) == []


async def test_an_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNRI_DATABASE_URL", "postgresql+asyncpg://bunri:bunri@127.0.0.1:9/bunri")
    result = await bunri("users", "grant-role", EMAIL, "--role", "admin")
    assert result.exit_code == 1, result.output
    assert "the database cannot be reached" in result.output
