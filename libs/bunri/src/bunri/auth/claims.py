from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

# RFC 9068: marks a JWT as an access token, not an ID token.
ACCESS_TOKEN_TYPE = "at+jwt"
SUPPORTED_ALGORITHMS = ("EdDSA", "RS256")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says: who, which token, which sign-in session, until when."""

    user_id: uuid.UUID
    token_id: str
    session_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime
