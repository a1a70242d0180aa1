from __future__ import annotations

from typing import ClassVar

from bunri.errors import BunriError, DependencyUnavailable, Forbidden


class TokenError(BunriError):
    """A 401 with one of the codes of DESIGN.md section 6 and an RFC 6750 challenge."""

    status_code = 401
    challenge: ClassVar[str] = 'Bearer error="invalid_token"'

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": self.challenge})


class TokenMissing(TokenError):
    code = "token_missing"
    message = "This endpoint needs an access token (Authorization: Bearer <token>)."
    challenge = "Bearer"


class TokenInvalid(TokenError):
    code = "token_invalid"
    message = "The access token is not valid."


class TokenExpired(TokenError):
    code = "token_expired"
    message = "The access token has expired; refresh it."


class TokenRevoked(TokenError):
    code = "token_revoked"
    message = "The access token has been revoked; sign in again."


class RoleRequired(Forbidden):
    """A 403: the token is good, but the account lacks the role the route needs (RFC 6750's
    insufficient_scope). The code stays `forbidden`; the message names the role."""

    def __init__(self, role: str) -> None:
        super().__init__(
            f"This needs the '{role}' role, which your account does not have. If it was given "
            "to you a moment ago, sign in again (or refresh your token).",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{role}"'},
        )
        self.role = role


class AuthUnavailable(DependencyUnavailable):
    code = "auth_unavailable"
    message = "Tokens cannot be checked right now; try again shortly."
