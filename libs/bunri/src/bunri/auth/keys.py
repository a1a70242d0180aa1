"""Public keys for verification: a fixed set, or auth-api's JWKS fetched and cached."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from bunri.auth.claims import SUPPORTED_ALGORITHMS
from bunri.auth.errors import AuthUnavailable
from bunri.logging import get_logger

log = get_logger(__name__)

PublicKey = Ed25519PublicKey | RSAPublicKey

# RFC 7638: the members a thumbprint covers, per key type.
_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: PublicKey

    @classmethod
    def from_public_key(cls, key: PublicKey) -> VerificationKey:
        jwk = _jwk_of(key)
        return cls(kid=jwk_thumbprint(jwk), algorithm=_algorithm_of(key), key=key)

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> VerificationKey:
        algorithm = jwk.get("alg")
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported JWK algorithm {algorithm!r}")
        try:
            parsed = (OKPAlgorithm if algorithm == "EdDSA" else RSAAlgorithm).from_jwk(jwk)
        except jwt.PyJWTError as exc:
            raise ValueError(f"malformed {algorithm} JWK: {exc}") from exc
        if not isinstance(parsed, Ed25519PublicKey | RSAPublicKey):
            raise ValueError("a JWKS must publish public keys only")
        if _algorithm_of(parsed) != algorithm:
            raise ValueError(f"JWK type does not match its algorithm {algorithm!r}")
        return cls(kid=str(jwk["kid"]), algorithm=algorithm, key=parsed)

    def to_jwk(self) -> dict[str, Any]:
        return {**_jwk_of(self.key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _jwk_of(key: PublicKey) -> dict[str, Any]:
    """The key's public members, and nothing else (no key_ops beside `use`)."""
    if isinstance(key, Ed25519PublicKey):
        full = OKPAlgorithm.to_jwk(key, as_dict=True)
    else:
        full = RSAAlgorithm.to_jwk(key, as_dict=True)
    return {name: full[name] for name in _THUMBPRINT_MEMBERS[full["kty"]]}


def _algorithm_of(key: PublicKey) -> str:
    return "EdDSA" if isinstance(key, Ed25519PublicKey) else "RS256"


class KeySource(Protocol):
    async def get(self, kid: str) -> VerificationKey | None: ...


class StaticKeySource:
    """Keys known in-process: auth-api verifies with its own keys, with no HTTP round trip."""

    def __init__(self, keys: list[VerificationKey]) -> None:
        self._keys = {key.kid: key for key in keys}

    async def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)


class JwksKeySource:
    """auth-api's JWKS, cached. An unknown kid triggers a refetch (a key was rotated in), but at
    most once per `min_refresh_seconds`, so tokens with made-up kids cannot flood auth-api.
    A cache older than `max_age_seconds` is refreshed too, so a retired key stops verifying;
    while auth-api cannot be reached, the keys already known keep working."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age_seconds: float = 600.0,
        min_refresh_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._client = client
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> VerificationKey | None:
        key = self._keys.get(kid)
        if key is None or time.monotonic() - self._fetched_at > self._max_age:
            await self._refresh()
            key = self._keys.get(kid)
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._attempted_at < self._min_refresh:
                return  # fetched just now (maybe while we waited for the lock), or failed just now
            self._attempted_at = time.monotonic()
            try:
                response = await self._client.get(self._url, timeout=5.0)
                response.raise_for_status()
                keys = _parse_jwks(response.json()["keys"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("jwks fetch failed", url=self._url, error=repr(exc))
                if not self._keys:
                    raise AuthUnavailable("The token signing keys cannot be fetched.") from exc
                return
            self._keys = {key.kid: key for key in keys}
            self._fetched_at = time.monotonic()
            log.info("jwks refreshed", url=self._url, kids=sorted(self._keys))


def _parse_jwks(entries: list[dict[str, Any]]) -> list[VerificationKey]:
    """The usable keys of a JWKS; one malformed entry does not take the others down."""
    keys = []
    for entry in entries:
        try:
            keys.append(VerificationKey.from_jwk(entry))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("jwks entry skipped", kid=entry.get("kid"), error=str(exc))
    return keys
