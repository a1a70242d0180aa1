"""Roles in access tokens: auth-api copies the account's roles (given only by `bunri users`) into
every token it issues, at login, refresh and social sign-in, so one taken away is gone at the next
refresh; `bunri.auth` reads the claim (a malformed one is a malformed token); `require_role` /
`AdminDep` let only a token with the role through (403 `forbidden` otherwise); and no HTTP
endpoint takes a role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.keys import parse_private_key
from bunri.auth import (
    ADMIN_ROLE,
    AccessClaims,
    RevocationStore,
    StaticKeySource,
    TokenInvalid,
    TokenVerifier,
)
from bunri.db.base import utcnow
from bunri.db.models import User
from bunri.web.auth import AdminDep, require_role
from bunri.web.errors import install_error_handlers
from bunri_programs.users import change_role
from tests.auth.oauth_flows import app_sign_in, provider_user, social_sign_in
from tests.auth.test_token_attacks import Minter
from tests.support.auth import assert_error
from tests.support.fake_oauth import FakeProvider
from tests.support.users import PASSWORD, bearer, log_in, sign_up

EMAIL = "admin@example.com"


def claims_of(tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return claims


async def set_role(engine: AsyncEngine, email: str, *, grant: bool) -> None:
    """What `bunri users grant-role` / `revoke-role` do (tests/auth/test_users_cli.py runs the
    commands themselves)."""
    async with engine.begin() as connection:
        await change_role(connection, email, ADMIN_ROLE, grant=grant)


async def refresh(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )


# auth-api: the claim in the tokens it issues.


async def test_an_ordinary_account_s_token_has_no_roles_claim(client: httpx.AsyncClient) -> None:
    await sign_up(client, EMAIL)
    tokens = await log_in(client, EMAIL)
    assert "roles" not in claims_of(tokens)
    refreshed = await refresh(client, tokens)
    assert refreshed.status_code == 200, refreshed.text
    assert "roles" not in claims_of(refreshed.json())


async def test_a_granted_role_is_in_the_next_token_and_a_revoked_one_gone_at_the_next_refresh(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client, EMAIL)
    before = await log_in(client, EMAIL)

    await set_role(db_engine, EMAIL, grant=True)

    # A token issued before the grant says what it said; the next one (refresh or login) has it.
    assert "roles" not in claims_of(before)
    refreshed = await refresh(client, before)
    assert refreshed.status_code == 200, refreshed.text
    assert claims_of(refreshed.json())["roles"] == [ADMIN_ROLE]
    admin = await log_in(client, EMAIL)
    assert claims_of(admin)["roles"] == [ADMIN_ROLE]

    await set_role(db_engine, EMAIL, grant=False)

    after = await refresh(client, admin)
    assert after.status_code == 200, after.text
    assert "roles" not in claims_of(after.json())
    assert "roles" not in claims_of(await log_in(client, EMAIL))


async def test_a_deleted_account_s_refresh_is_refused_role_or_not(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client, EMAIL)
    await set_role(db_engine, EMAIL, grant=True)
    tokens = await log_in(client, EMAIL)
    assert claims_of(tokens)["roles"] == [ADMIN_ROLE]
    async with db_engine.begin() as connection:
        await connection.execute(update(User).values(deleted_at=utcnow()))
    assert_error(await refresh(client, tokens), 401, "refresh_token_invalid")


@pytest.mark.usefixtures("no_server_errors")
async def test_social_sign_ins_carry_the_account_s_roles(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    identity = provider_user("social.admin@example.com")
    first = await social_sign_in(client, fakes["google"], identity)
    assert "roles" not in claims_of(first)

    await set_role(db_engine, "social.admin@example.com", grant=True)

    assert claims_of(await social_sign_in(client, fakes["google"], identity))["roles"] == [
        ADMIN_ROLE
    ]
    assert claims_of(await app_sign_in(client, fakes["google"], identity))["roles"] == [ADMIN_ROLE]


async def test_no_http_endpoint_takes_a_role(client: httpx.AsyncClient) -> None:
    signup = await client.post(
        "/api/v1/auth/signup",
        json={"email": EMAIL, "password": PASSWORD, "nickname": "n", "roles": [ADMIN_ROLE]},
    )
    assert_error(signup, 422, "validation_error")
    login = await client.post(
        "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD, "roles": [ADMIN_ROLE]}
    )
    assert_error(login, 422, "validation_error")
    # Nothing any route reads from a request has a field of that name.
    openapi = (await client.get("/api/v1/auth/openapi.json")).json()
    schemas = openapi["components"]["schemas"]
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                reference = media["schema"].get("$ref", "")
                schema = schemas.get(reference.rsplit("/", 1)[-1], media["schema"])
                assert "roles" not in schema.get("properties", {}), (method, path)
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            assert "roles" not in names, (method, path)


# bunri.auth: reading the claim.


@pytest.fixture
def minted(signing_key_pem: str, redis: Redis) -> tuple[Minter, TokenVerifier]:
    minter = Minter(signing_key_pem, str(uuid.uuid4()))
    verifier = TokenVerifier(
        StaticKeySource([minter.key.public]),
        RevocationStore(redis),
        issuer="bunri-auth",
        audience="bunri-api",
    )
    return minter, verifier


async def test_the_verifier_reads_the_roles_claim(minted: tuple[Minter, TokenVerifier]) -> None:
    minter, verifier = minted
    plain = await verifier.verify(minter.valid())
    assert plain.roles == frozenset()
    admin = await verifier.verify(minter.sign(minter.claims(roles=[ADMIN_ROLE])))
    assert admin.roles == frozenset({ADMIN_ROLE})
    assert (await verifier.verify(minter.sign(minter.claims(roles=[])))).roles == frozenset()
    # A role this library does not know yet is kept; it grants nothing a route does not ask for.
    newer = await verifier.verify(minter.sign(minter.claims(roles=["auditor", ADMIN_ROLE])))
    assert newer.roles == frozenset({"auditor", ADMIN_ROLE})


@pytest.mark.parametrize(
    "roles",
    [ADMIN_ROLE, {"admin": True}, [1], [None], [""], ["a" * 33], [[ADMIN_ROLE]], 0, True],
    ids=repr,
)
async def test_a_malformed_roles_claim_is_a_malformed_token(
    minted: tuple[Minter, TokenVerifier], roles: object
) -> None:
    minter, verifier = minted
    with pytest.raises(TokenInvalid, match="claims are malformed"):
        await verifier.verify(minter.sign(minter.claims(roles=roles)))


# bunri.web: the dependency that needs a role.

# A role no route of the platform needs yet: `require_role` works for any name.
Auditor = Annotated[AccessClaims, Depends(require_role("auditor"))]


@pytest.fixture
async def guarded(signing_key_pem: str, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A service of its own (not auth-api) that verifies auth-api's tokens, with a route that
    needs the admin role and one that needs another role."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/admin")
    async def admin_only(admin: AdminDep) -> dict[str, str]:
        return {"user_id": str(admin.user_id)}

    @app.get("/auditor")
    async def auditor_only(auditor: Auditor) -> dict[str, list[str]]:
        return {"roles": sorted(auditor.roles)}

    app.state.token_verifier = TokenVerifier(
        StaticKeySource([parse_private_key(signing_key_pem.encode()).public]),
        RevocationStore(redis),
        issuer="bunri-auth",
        audience="bunri-api",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
        yield client


async def test_admin_dep_lets_only_a_token_with_the_role_through(
    client: httpx.AsyncClient, guarded: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client, EMAIL)
    plain = await log_in(client, EMAIL)
    await set_role(db_engine, EMAIL, grant=True)
    admin = await log_in(client, EMAIL)

    refused = await guarded.get("/admin", headers=bearer(plain["access_token"]))
    assert_error(refused, 403, "forbidden")
    assert "'admin' role" in refused.json()["error"]["message"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    allowed = await guarded.get("/admin", headers=bearer(admin["access_token"]))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["user_id"] == claims_of(admin)["sub"]

    # Without a token, or with a bad one, it is the usual 401, not a 403.
    assert_error(await guarded.get("/admin"), 401, "token_missing")
    assert_error(await guarded.get("/admin", headers=bearer("not.a.token")), 401, "token_invalid")
    # A signed-out admin's token is refused like any other.
    logout = await client.post("/api/v1/auth/logout", headers=bearer(admin["access_token"]))
    assert logout.status_code == 204
    assert_error(
        await guarded.get("/admin", headers=bearer(admin["access_token"])), 401, "token_revoked"
    )


async def test_a_role_other_than_the_one_needed_does_not_let_through(
    signing_key_pem: str, guarded: httpx.AsyncClient
) -> None:
    minter = Minter(signing_key_pem, str(uuid.uuid4()))
    admin = minter.sign(minter.claims(roles=[ADMIN_ROLE]))
    assert_error(await guarded.get("/auditor", headers=bearer(admin)), 403, "forbidden")
    auditor = minter.sign(minter.claims(roles=["auditor"]))
    assert_error(await guarded.get("/admin", headers=bearer(auditor)), 403, "forbidden")
    allowed = await guarded.get("/auditor", headers=bearer(auditor))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"roles": ["auditor"]}
