"""`bunri users`: the roles of accounts (only `admin` exists). The only way a role is given or
taken away: no HTTP endpoint does it. auth-api copies an account's roles into each access token
it issues, so a change reaches the person's next token (their next sign-in or refresh); a token
already issued keeps what it says until it expires.

Every command is idempotent: giving a role an account has, or taking away one it lacks, changes
nothing and says so. An unknown e-mail or role is an error (exit code 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import typer

from bunri_programs.database import in_transaction

# SQLAlchemy (and bunri.auth, with its JWT and Redis clients) are imported by the commands
# themselves: `bunri`'s other commands, the containers' health checks among them, need not load
# them.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

users_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Accounts' roles (admin): give, take, list."
)

T = TypeVar("T")

ROLE_HELP = "The role (there is one: admin)."


class UsersError(Exception):
    """What the operator must be told, and the command ends with exit code 1."""


@dataclass(frozen=True, slots=True)
class RoleChange:
    email: str
    roles: list[str]
    changed: bool


def _checked_role(role: str) -> str:
    from bunri.auth.claims import KNOWN_ROLES

    if role not in KNOWN_ROLES:
        known = ", ".join(sorted(KNOWN_ROLES))
        raise UsersError(f"unknown role {role!r}: the roles are {known}")
    return role


async def change_role(
    connection: AsyncConnection, email: str, role: str, *, grant: bool
) -> RoleChange:
    """Give (`grant`) or take away `role` from the account with this e-mail, its row locked so
    that two changes at once cannot lose one."""
    from sqlalchemy import select, update

    from bunri.db.models import User

    _checked_role(role)
    address = email.strip().lower()
    row = (
        await connection.execute(
            select(User.id, User.roles, User.deleted_at)
            .where(User.email == address)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise UsersError(f"no account has the e-mail {address!r}")
    roles = set(_role_names(row.roles))
    if grant and row.deleted_at is not None:
        raise UsersError(f"the account of {address!r} is being deleted; it gets no role")
    wanted = roles | {role} if grant else roles - {role}
    if wanted == roles:
        return RoleChange(address, sorted(roles), changed=False)
    await connection.execute(update(User).where(User.id == row.id).values(roles=sorted(wanted)))
    return RoleChange(address, sorted(wanted), changed=True)


async def accounts_with_roles(connection: AsyncConnection) -> list[tuple[str, list[str]]]:
    """(e-mail, roles) of every account that has a role, by e-mail."""
    from sqlalchemy import func, select

    from bunri.db.models import User

    # users.roles is a JSON array: JSONB on PostgreSQL, JSON text on SQLite (standalone).
    length = (
        func.jsonb_array_length
        if connection.dialect.name == "postgresql"
        else func.json_array_length
    )
    rows = await connection.execute(
        select(User.email, User.roles).where(length(User.roles) > 0).order_by(User.email, User.id)
    )
    return [(row.email or "(no e-mail)", _role_names(row.roles)) for row in rows]


def _role_names(stored: object) -> list[str]:
    """The role names a row holds, sorted (a JSON column could hold anything: only strings
    count)."""
    if not isinstance(stored, list):
        return []
    return sorted({role for role in stored if isinstance(role, str)})


def _run_change(email: str, role: str, *, grant: bool) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        _checked_role(role)
        change = in_transaction(
            lambda connection: change_role(connection, email, role, grant=grant)
        )
    except UsersError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (OSError, SQLAlchemyError) as exc:
        typer.echo(f"error: the database cannot be reached or refused the change: {exc}", err=True)
        raise typer.Exit(1) from exc
    has = ", ".join(change.roles) or "no role"
    if not change.changed:
        state = "already has" if grant else "did not have"
        typer.echo(f"{change.email} {state} the {role} role; nothing changed (roles: {has})")
        return
    typer.echo(
        f"{'gave' if grant else 'took'} the {role} role {'to' if grant else 'from'} "
        f"{change.email} (roles: {has})"
    )
    typer.echo(
        "It reaches their next access token (next sign-in or refresh); tokens already issued "
        "keep what they say until they expire."
    )


@users_app.command("grant-role")
def grant_role(
    email: str = typer.Argument(..., help="The account's e-mail."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
) -> None:
    """Give ROLE to the account with EMAIL (nothing changes if it has it already)."""
    _run_change(email, role, grant=True)


@users_app.command("revoke-role")
def revoke_role(
    email: str = typer.Argument(..., help="The account's e-mail."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
) -> None:
    """Take ROLE away from the account with EMAIL (nothing changes if it lacks it)."""
    _run_change(email, role, grant=False)


@users_app.command("list-roles")
def list_roles() -> None:
    """Every account that has a role, with its roles: one per line, tab-separated."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        accounts = in_transaction(accounts_with_roles)
    except (OSError, SQLAlchemyError) as exc:
        typer.echo(f"error: the database cannot be reached: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not accounts:
        typer.echo("no account has a role", err=True)
        return
    for email, roles in accounts:
        typer.echo(f"{email}\t{','.join(roles)}")
