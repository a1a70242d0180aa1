"""Access-token verification for every service: local signature checks, revocation in Redis.

Services never call auth-api per request: they verify signatures with public keys cached from
auth-api's JWKS and ask Redis whether the token (or its whole sign-in session) was revoked.
"""

from bunri.auth.claims import ADMIN_ROLE, KNOWN_ROLES, AccessClaims
from bunri.auth.errors import (
    AuthUnavailable,
    RoleRequired,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    TokenRevoked,
)
from bunri.auth.keys import JwksKeySource, KeySource, StaticKeySource, VerificationKey
from bunri.auth.revocation import RevocationStore
from bunri.auth.verifier import TokenVerifier

__all__ = [
    "ADMIN_ROLE",
    "KNOWN_ROLES",
    "AccessClaims",
    "AuthUnavailable",
    "JwksKeySource",
    "KeySource",
    "RevocationStore",
    "RoleRequired",
    "StaticKeySource",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "TokenRevoked",
    "TokenVerifier",
    "VerificationKey",
]
