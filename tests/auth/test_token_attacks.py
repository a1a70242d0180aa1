"""Every way a token can be wrong gets its specific 401 (never a 500, never a pass)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from auth_api.keys import parse_private_key
from tests.support.auth import assert_error
from tests.support.keys import ed25519_pem, rsa_pem
from tests.support.keys import public_pem as public_pem_of
from tests.support.users import bearer, log_in, sign_up

ME = "/api/v1/auth/me"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Minter:
    """Builds tokens the way an attacker (or a buggy issuer) would."""

    def __init__(self, signing_key_pem: str, user_id: str) -> None:
        self.pem = signing_key_pem
        self.key = parse_private_key(signing_key_pem.encode())
        self.user_id = user_id

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "bunri-auth",
            "aud": "bunri-api",
            "sub": self.user_id,
            "sid": str(uuid.uuid4()),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def header(self, **changes: Any) -> dict[str, Any]:
        return {"kid": self.key.public.kid, "typ": "at+jwt", **changes}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        pem: str | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        signer = parse_private_key((pem or self.pem).encode())
        return jwt.encode(
            claims,
            signer.private_key,
            algorithm=signer.public.algorithm,
            headers=header or self.header(),
        )

    def valid(self) -> str:
        return self.sign(self.claims())


@pytest.fixture
async def minter(client: httpx.AsyncClient, signing_key_pem: str) -> Minter:
    user = await sign_up(client)
    return Minter(signing_key_pem, user["id"])


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ME, headers=bearer(token))


async def test_a_token_minted_with_the_real_key_passes(
    client: httpx.AsyncClient, minter: Minter
) -> None:
    """The control case: everything below differs from this in one way only."""
    assert (await me(client, minter.valid())).status_code == 200


async def test_alg_none_is_refused(client: httpx.AsyncClient, minter: Minter) -> None:
    header = b64(json.dumps(minter.header(alg="none")).encode())
    payload = b64(json.dumps(minter.claims()).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        assert_error(await me(client, token), 401, "token_invalid")


async def test_hs256_keyed_with_the_public_key_is_refused(
    client: httpx.AsyncClient, minter: Minter
) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    public_pem = public_pem_of(minter.pem).encode()
    for secret in (public_pem, json.dumps(jwks["keys"][0]).encode(), jwks["keys"][0]["n"].encode()):
        header = b64(json.dumps(minter.header(alg="HS256")).encode())
        payload = b64(json.dumps(minter.claims()).encode())
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{b64(signature)}"
        assert_error(await me(client, token), 401, "token_invalid")


async def test_expired_tokens_are_told_apart(client: httpx.AsyncClient, minter: Minter) -> None:
    now = int(time.time())
    expired = minter.sign(minter.claims(iat=now - 1000, exp=now - 60))
    assert_error(await me(client, expired), 401, "token_expired")


async def test_expiry_within_the_leeway_still_passes(
    client: httpx.AsyncClient, minter: Minter
) -> None:
    now = int(time.time())
    assert (await me(client, minter.sign(minter.claims(exp=now - 5)))).status_code == 200


async def test_a_tampered_payload_breaks_the_signature(
    client: httpx.AsyncClient, minter: Minter
) -> None:
    header, _, signature = minter.valid().split(".")
    other = b64(json.dumps(minter.claims(sub=str(uuid.uuid4()))).encode())
    assert_error(await me(client, f"{header}.{other}.{signature}"), 401, "token_invalid")


async def test_a_tampered_signature_is_refused(client: httpx.AsyncClient, minter: Minter) -> None:
    token = minter.valid()
    flipped = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_error(await me(client, flipped), 401, "token_invalid")


@pytest.mark.parametrize("make_key", [rsa_pem, ed25519_pem], ids=["RS256", "EdDSA"])
async def test_a_token_forged_with_another_key_under_our_kid_is_refused(
    client: httpx.AsyncClient, minter: Minter, make_key: Any
) -> None:
    """Same kid, our algorithm or the other one we support: the signature must still fail."""
    forged = minter.sign(minter.claims(), pem=make_key())
    assert_error(await me(client, forged), 401, "token_invalid")


async def test_a_cached_token_does_not_vouch_for_a_changed_one(
    client: httpx.AsyncClient, minter: Minter
) -> None:
    """The verifier remembers verified tokens; a token differing in any byte is checked anew."""
    token = minter.valid()
    assert (await me(client, token)).status_code == 200
    header, _, signature = token.split(".")
    changed_claims = b64(json.dumps(minter.claims(sub=str(uuid.uuid4()))).encode())
    assert_error(await me(client, f"{header}.{changed_claims}.{signature}"), 401, "token_invalid")
    assert (await me(client, token)).status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"iss": "someone-else"},
        {"sid": None},
        {"jti": None},
        {"sub": None},
        {"exp": None},
        {"sub": "not-a-uuid"},
        {"iat": "yesterday"},
    ],
    ids=lambda changes: ",".join(f"{name}={value}" for name, value in changes.items()),
)
async def test_wrong_or_missing_claims_are_refused(
    client: httpx.AsyncClient, minter: Minter, changes: dict[str, Any]
) -> None:
    token = minter.sign(minter.claims(**changes))
    assert_error(await me(client, token), 401, "token_invalid")


@pytest.mark.parametrize(
    "header_changes",
    [{"typ": "JWT"}, {"typ": None}, {"kid": "unknown-key-id"}, {"kid": None}],
    ids=str,
)
async def test_wrong_headers_are_refused(
    client: httpx.AsyncClient, minter: Minter, header_changes: dict[str, Any]
) -> None:
    header = {key: value for key, value in (minter.header() | header_changes).items() if value}
    token = minter.sign(minter.claims(), header=header)
    assert_error(await me(client, token), 401, "token_invalid")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
        "Bearer abc",
        "Bearer " + "a" * 5000,
        "Token abc.def.ghi",
    ],
)
async def test_malformed_authorization_headers_are_token_invalid(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get(ME, headers={"Authorization": authorization})
    assert_error(response, 401, "token_invalid")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_no_token_is_token_missing(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert_error(response, 401, "token_missing")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_token_is_token_revoked(client: httpx.AsyncClient) -> None:
    await sign_up(client, "revoked@example.com")
    pair = await log_in(client, "revoked@example.com")
    await client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert_error(await me(client, pair["access_token"]), 401, "token_revoked")
