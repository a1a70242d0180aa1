"""Request and response bodies of auth-api."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from auth_api.passwords import MAX_PASSWORD_LENGTH
from bunri.web.text import PLAIN_TEXT


class Strict(BaseModel):
    # Unknown fields are refused rather than ignored: a typo in a field name is a client bug.
    model_config = ConfigDict(extra="forbid", strict=True)


Email = Annotated[EmailStr, AfterValidator(lambda email: email.lower())]
Nickname = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), PLAIN_TEXT
]
# A password is never stored or shown, only hashed (bytes, NUL included): it takes any character.
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]


class SignupRequest(Strict):
    email: Email
    password: Password
    nickname: Nickname


class LoginRequest(Strict):
    email: Email
    password: Password


class RefreshRequest(Strict):
    refresh_token: OpaqueToken


class LogoutRequest(Strict):
    refresh_token: OpaqueToken | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")


class LinkedProvider(BaseModel):
    provider: str
    email: str | None
    linked_at: datetime


class UserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    nickname: str
    has_password: bool
    linked_providers: list[LinkedProvider]
    created_at: datetime


class AuthorizationUrl(BaseModel):
    authorization_url: str


class LoginCodeExchange(Strict):
    code: OpaqueToken
    # RFC 7636: 43 to 128 unreserved characters.
    code_verifier: Annotated[str, Field(pattern=r"^[A-Za-z0-9._~-]{43,128}$")] | None = None


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, Any]]
