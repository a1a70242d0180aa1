"""Local verification of access tokens: signature, claims, then revocation."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import jwt
import redis.exceptions

from bunri.auth.claims import (
    ACCESS_TOKEN_TYPE,
    MAX_ROLE_LENGTH,
    SUPPORTED_ALGORITHMS,
    AccessClaims,
)
from bunri.auth.errors import AuthUnavailable, TokenExpired, TokenInvalid, TokenRevoked
from bunri.auth.keys import KeySource
from bunri.auth.revocation import RevocationStore

REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "iat", "exp", "sid"]
MAX_TOKEN_LENGTH = 4096
VERIFIED_CACHE_SIZE = 10_000


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        revocations: RevocationStore,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
    ) -> None:
        self._keys = keys
        self._revocations = revocations
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        # A client sends the same token on every request until it expires: remember which exact
        # tokens verified (by digest), so a signature is checked once per token, not per request.
        # Any other token (one changed byte) misses and is verified in full.
        self._verified: OrderedDict[bytes, AccessClaims] = OrderedDict()

    async def verify(self, token: str) -> AccessClaims:
        claims = await self.verify_signature_and_claims(token)
        await self.ensure_not_revoked(claims)
        return claims

    async def ensure_not_revoked(self, claims: AccessClaims) -> None:
        try:
            revoked = await self._revocations.is_revoked(claims.token_id, claims.session_id)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Fail closed: a token we cannot check might be one its owner just revoked.
            raise AuthUnavailable() from exc
        if revoked:
            raise TokenRevoked()

    async def verify_signature_and_claims(self, token: str) -> AccessClaims:
        """Everything but the revocation check (auth-api's logout needs the claims of a token
        that may already be revoked)."""
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            if time.time() < cached.expires_at.timestamp() + self._leeway:
                return cached
            del self._verified[digest]
            raise TokenExpired()
        claims = await self._verify_uncached(token)
        self._verified[digest] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _verify_uncached(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("The access token is too long.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid("The access token is malformed.") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        # The algorithm must be one we sign with AND the one the key was published for: this is
        # what stops "alg: none" and HS256 tokens keyed with our public key.
        if algorithm not in SUPPORTED_ALGORITHMS or not isinstance(kid, str):
            raise TokenInvalid("The access token uses an algorithm or key this service refuses.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise TokenInvalid("The token is not an access token.")
        key = await self._keys.get(kid)
        if key is None or key.algorithm != algorithm:
            raise TokenInvalid("The access token was signed by a key this service does not know.")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid(f"The access token is not valid: {exc}.") from exc
        return _claims_from(payload)


def _claims_from(payload: dict[str, Any]) -> AccessClaims:
    try:
        return AccessClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            token_id=str(payload["jti"]),
            session_id=uuid.UUID(str(payload["sid"])),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            roles=_roles_from(payload.get("roles")),
        )
    except (ValueError, TypeError) as exc:
        raise TokenInvalid("The access token's claims are malformed.") from exc


def _roles_from(claim: object) -> frozenset[str]:
    """The `roles` claim: absent for most people, else a list of role names. Any other shape is
    a malformed token. Names this library does not know are kept (a role auth-api learns before
    this service does); they grant nothing here, since a route asks for the role it needs."""
    if claim is None:
        return frozenset()
    if not isinstance(claim, list) or not all(
        isinstance(role, str) and 0 < len(role) <= MAX_ROLE_LENGTH for role in claim
    ):
        raise ValueError("the roles claim must be a list of role names")
    return frozenset(claim)
