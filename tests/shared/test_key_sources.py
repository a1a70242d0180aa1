"""JwksKeySource: keys fetched once and cached, refreshed for a rotated-in kid (but not flooded by
made-up kids), stale keys dropped, and a clear 503 when no key was ever obtainable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI

from auth_api.keys import parse_private_key
from bunri.auth import (
    AuthUnavailable,
    JwksKeySource,
    RevocationStore,
    StaticKeySource,
    TokenVerifier,
    VerificationKey,
)
from tests.auth.test_token_attacks import Minter
from tests.support.keys import ed25519_pem, rsa_pem
from tests.support.servers import free_port, serve_in_thread


@dataclass
class JwksServer:
    keys: list[VerificationKey] = field(default_factory=list)
    fetches: int = 0
    url: str = ""


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()
    app = FastAPI()

    @app.get("/jwks")
    async def jwks() -> dict[str, object]:
        state.fetches += 1
        return {"keys": [key.to_jwk() for key in state.keys]}

    with serve_in_thread(app) as base_url:
        state.url = f"{base_url}/jwks"
        yield state


def key_pair() -> tuple[str, VerificationKey]:
    pem = ed25519_pem()
    return pem, parse_private_key(pem.encode()).public


async def test_caches_keys_and_refetches_for_a_rotated_in_kid(jwks_server: JwksServer) -> None:
    _, first = key_pair()
    _, second = key_pair()
    jwks_server.keys = [first]
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(jwks_server.url, http, min_refresh_seconds=0)
        for _ in range(10):
            assert await source.get(first.kid) == first
        assert jwks_server.fetches == 1
        jwks_server.keys = [second, first]  # auth-api rotated its key
        assert await source.get(second.kid) == second
        assert jwks_server.fetches == 2


async def test_made_up_kids_cannot_flood_the_jwks(jwks_server: JwksServer) -> None:
    _, known = key_pair()
    jwks_server.keys = [known]
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(jwks_server.url, http, min_refresh_seconds=60)
        for _ in range(50):
            assert await source.get(f"attacker-{uuid.uuid4()}") is None
        assert jwks_server.fetches == 1
        assert await source.get(known.kid) == known


async def test_a_key_withdrawn_from_the_jwks_stops_verifying_after_max_age(
    jwks_server: JwksServer,
) -> None:
    _, compromised = key_pair()
    _, replacement = key_pair()
    jwks_server.keys = [compromised]
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(jwks_server.url, http, max_age_seconds=0.2, min_refresh_seconds=0)
        assert await source.get(compromised.kid) == compromised
        jwks_server.keys = [replacement]
        await asyncio.sleep(0.3)
        assert await source.get(compromised.kid) is None


async def test_known_keys_keep_working_while_auth_api_is_down() -> None:
    _, key = key_pair()
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(
            f"http://127.0.0.1:{free_port()}/jwks", http, max_age_seconds=0, min_refresh_seconds=0
        )
        source._keys = {key.kid: key}  # as if fetched before auth-api went down
        assert await source.get(key.kid) == key


async def test_no_reachable_jwks_and_no_cached_key_is_a_503() -> None:
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(f"http://127.0.0.1:{free_port()}/jwks", http)
        with pytest.raises(AuthUnavailable):
            await source.get("any")


async def test_a_jwks_with_a_private_or_symmetric_key_is_refused(jwks_server: JwksServer) -> None:
    bad = {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "sym"}
    with pytest.raises(ValueError, match="unsupported"):
        VerificationKey.from_jwk(bad)
    rsa_public = parse_private_key(rsa_pem().encode()).public
    mislabelled = rsa_public.to_jwk() | {"alg": "EdDSA"}
    with pytest.raises(ValueError, match=r"malformed EdDSA JWK|does not match"):
        VerificationKey.from_jwk(mislabelled)


async def test_unreachable_redis_fails_closed_with_a_503(signing_key_pem_for_unit: str) -> None:
    user_id = str(uuid.uuid4())
    minter = Minter(signing_key_pem_for_unit, user_id)
    dead_redis = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=0.5)
    verifier = TokenVerifier(
        StaticKeySource([minter.key.public]),
        RevocationStore(dead_redis),
        issuer="bunri-auth",
        audience="bunri-api",
    )
    claims = await verifier.verify_signature_and_claims(minter.valid())
    assert str(claims.user_id) == user_id
    with pytest.raises(AuthUnavailable):
        await verifier.verify(minter.valid())
    await dead_redis.aclose()


@pytest.fixture(scope="module")
def signing_key_pem_for_unit() -> str:
    return ed25519_pem()


async def test_one_malformed_jwks_entry_does_not_hide_the_others(jwks_server: JwksServer) -> None:
    _, good = key_pair()

    class Garbage(VerificationKey):
        def to_jwk(self) -> dict[str, object]:
            return {"kty": "OKP", "alg": "EdDSA", "kid": "junk", "crv": "Ed25519", "x": "!!"}

    jwks_server.keys = [Garbage(kid="junk", algorithm="EdDSA", key=good.key), good]
    async with httpx.AsyncClient() as http:
        source = JwksKeySource(jwks_server.url, http)
        assert await source.get(good.kid) == good
        assert await source.get("junk") is None
