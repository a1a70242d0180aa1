"""A fake OAuth 2.0 provider (Kakao, Google and Naver flavours) that tests serve on loopback.

It checks what a real provider checks: client credentials, the redirect URI given at authorize,
single-use codes, PKCE (S256), and bearer tokens at the user-info endpoint; and it answers with
each real provider's own user-info shape.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Header, HTTPException, Query
from fastapi.responses import JSONResponse, RedirectResponse


@dataclass
class ProviderUser:
    id: str
    email: str | None = None
    nickname: str | None = "tester"
    email_verified: bool = True


@dataclass
class IssuedCode:
    user: ProviderUser
    redirect_uri: str
    code_challenge: str | None


@dataclass
class FakeProvider:
    name: str
    client_id: str
    client_secret: str
    supports_pkce: bool
    next_user: ProviderUser = field(default_factory=lambda: ProviderUser(id="1001"))
    deny_next: bool = False
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    tokens: dict[str, ProviderUser] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def profile(self, user: ProviderUser) -> dict[str, Any]:
        if self.name == "google":
            return {
                "sub": user.id,
                "email": user.email,
                "email_verified": user.email_verified,
                "name": user.nickname,
            }
        if self.name == "kakao":
            return {
                "id": int(user.id),
                "connected_at": "2026-11-01T00:00:00Z",
                "properties": {"nickname": user.nickname},
                "kakao_account": {
                    "profile": {"nickname": user.nickname},
                    "has_email": user.email is not None,
                    "is_email_verified": user.email_verified,
                    "email": user.email,
                },
            }
        return {
            "resultcode": "00",
            "message": "success",
            "response": {"id": user.id, "email": user.email, "nickname": user.nickname},
        }


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def fake_providers() -> dict[str, FakeProvider]:
    return {
        "kakao": FakeProvider("kakao", "kakao-client", "kakao-secret", supports_pkce=True),
        "google": FakeProvider("google", "google-client", "google-secret", supports_pkce=True),
        "naver": FakeProvider("naver", "naver-client", "naver-secret", supports_pkce=False),
    }


def fake_provider_app(providers: dict[str, FakeProvider]) -> FastAPI:
    app = FastAPI()

    def provider_named(name: str) -> FakeProvider:
        if name not in providers:
            raise HTTPException(404)
        return providers[name]

    @app.get("/{name}/authorize")
    async def authorize(
        name: str,
        response_type: str,
        client_id: str,
        redirect_uri: str,
        state: str,
        code_challenge: Annotated[str | None, Query()] = None,
        code_challenge_method: Annotated[str | None, Query()] = None,
        scope: Annotated[str | None, Query()] = None,
    ) -> RedirectResponse:
        provider = provider_named(name)
        provider.authorize_requests.append(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": code_challenge or "",
                "scope": scope or "",
            }
        )
        if response_type != "code" or client_id != provider.client_id:
            raise HTTPException(400, "bad client")
        if provider.deny_next:
            provider.deny_next = False
            query = urlencode(
                {"error": "access_denied", "error_description": "User denied", "state": state}
            )
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)
        if code_challenge is not None and code_challenge_method != "S256":
            raise HTTPException(400, "only S256")
        code = secrets.token_urlsafe(16)
        provider.codes[code] = IssuedCode(provider.next_user, redirect_uri, code_challenge)
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    @app.post("/{name}/token")
    async def token(
        name: str,
        grant_type: Annotated[str, Form()],
        code: Annotated[str, Form()],
        redirect_uri: Annotated[str, Form()],
        client_id: Annotated[str, Form()],
        client_secret: Annotated[str | None, Form()] = None,
        code_verifier: Annotated[str | None, Form()] = None,
    ) -> JSONResponse:
        provider = provider_named(name)
        provider.token_requests.append(
            {"code": code, "redirect_uri": redirect_uri, "code_verifier": code_verifier or ""}
        )
        issued = provider.codes.pop(code, None)  # single use

        def refuse(error: str) -> JSONResponse:
            return JSONResponse({"error": error, "error_description": error}, status_code=400)

        if grant_type != "authorization_code" or issued is None:
            return refuse("invalid_grant")
        if client_id != provider.client_id or client_secret != provider.client_secret:
            return refuse("invalid_client")
        if redirect_uri != issued.redirect_uri:
            return refuse("redirect_uri_mismatch")
        if issued.code_challenge is not None and (
            code_verifier is None or s256(code_verifier) != issued.code_challenge
        ):
            return refuse("invalid_pkce")
        access_token = secrets.token_urlsafe(16)
        provider.tokens[access_token] = issued.user
        return JSONResponse(
            {"access_token": access_token, "token_type": "bearer", "expires_in": 3600}
        )

    @app.get("/{name}/userinfo")
    async def userinfo(name: str, authorization: Annotated[str, Header()] = "") -> JSONResponse:
        provider = provider_named(name)
        user = provider.tokens.get(authorization.removeprefix("Bearer "))
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(provider.profile(user))

    return app
