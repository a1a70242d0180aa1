"""The errors auth-api answers with, beyond the shared token errors."""

from __future__ import annotations

from bunri.errors import BunriError, Conflict, NotFound


class WeakPassword(BunriError):
    status_code = 422
    code = "weak_password"
    message = "The password is too weak."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this e-mail address already exists."


class InvalidCredentials(BunriError):
    status_code = 401
    code = "invalid_credentials"
    message = "The e-mail address or password is wrong."


class RefreshTokenInvalid(BunriError):
    status_code = 401
    code = "refresh_token_invalid"
    message = "The refresh token is not valid; sign in again."


class RefreshTokenExpired(RefreshTokenInvalid):
    code = "refresh_token_expired"
    message = "The refresh token has expired; sign in again."


class RefreshTokenReused(RefreshTokenInvalid):
    code = "refresh_token_reused"
    message = (
        "This refresh token was already used. Every token of this sign-in has been revoked; "
        "sign in again."
    )


class UnknownProvider(NotFound):
    code = "unknown_provider"
    message = "There is no such sign-in provider."


class ProviderDisabled(NotFound):
    code = "provider_disabled"
    message = "Sign-in with this provider is not enabled."


class OAuthStateInvalid(BunriError):
    code = "oauth_state_invalid"
    message = "The sign-in attempt is unknown or has expired; start again."


class OAuthDenied(BunriError):
    code = "oauth_denied"
    message = "The provider did not grant access."


class OAuthProviderError(BunriError):
    status_code = 502
    code = "oauth_provider_error"
    message = "The sign-in provider answered with an error; try again."


class RedirectUriNotAllowed(BunriError):
    code = "redirect_uri_not_allowed"
    message = "This redirect_uri is not registered for social login."


class CodeChallengeRequired(BunriError):
    code = "code_challenge_required"
    message = (
        "A sign-in that returns to an app needs a PKCE code_challenge (S256), so that only the "
        "app that started it can finish it."
    )


class BrowserMismatch(BunriError):
    code = "oauth_browser_mismatch"
    message = "This sign-in was started in another browser; start it again here."


class LoginCodeInvalid(BunriError):
    code = "login_code_invalid"
    message = "The login code is unknown, expired or already used."


class SocialAccountInUse(Conflict):
    code = "social_account_in_use"
    message = "This provider account is already linked to another user."


class ProviderAlreadyLinked(Conflict):
    code = "provider_already_linked"
    message = "Your account is already linked to another account of this provider."
