from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

# RFC 9068: marks a JWT as an access token, not an ID token.
ACCESS_TOKEN_TYPE = "at+jwt"
SUPPORTED_ALGORITHMS = ("EdDSA", "RS256")

# What an account may do beyond its own data. Roles are given only from the command line
# (`bunri users grant-role`), never over HTTP; auth-api copies them into the `roles` claim.
ADMIN_ROLE = "admin"
KNOWN_ROLES = frozenset({ADMIN_ROLE})
# A role name in a token is 1 to this many characters; a longer one makes the token malformed.
MAX_ROLE_LENGTH = 32


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says: who, which token, which sign-in session, until when,
    and the roles the account held when the token was issued (empty for most people)."""

    user_id: uuid.UUID
    token_id: str
    session_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
    roles: frozenset[str] = field(default_factory=frozenset)
