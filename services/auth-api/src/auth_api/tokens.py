"""Minting tokens: signed access tokens (JWT) and opaque refresh tokens stored only as digests."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from auth_api.keys import SigningKey
from bunri.auth.claims import ACCESS_TOKEN_TYPE
from bunri.db.base import utcnow


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    token_id: str
    expires_at: datetime


class AccessTokenIssuer:
    def __init__(self, key: SigningKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(
        self, user_id: uuid.UUID, session_id: uuid.UUID, roles: Iterable[str] = ()
    ) -> AccessToken:
        """An access token; `roles` are the account's as its row has them now (the claim is left
        out when there are none, as for most people)."""
        issued_at = utcnow()
        expires_at = issued_at + timedelta(seconds=self.ttl_seconds)
        token_id = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": token_id,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        if granted := sorted(set(roles)):
            claims["roles"] = granted
        token = jwt.encode(
            claims,
            self._key.private_key,
            algorithm=self._key.public.algorithm,
            headers={"kid": self._key.public.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return AccessToken(token=token, token_id=token_id, expires_at=expires_at)


def new_refresh_token() -> tuple[str, bytes]:
    """A random refresh token and the digest under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_digest(token)


def refresh_token_digest(token: str) -> bytes:
    # The token is 256 random bits, so a plain hash (no salt, no stretching) is enough: it cannot
    # be guessed, and the database never holds a usable token.
    return hashlib.sha256(token.encode()).digest()
