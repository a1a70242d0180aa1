from __future__ import annotations

from pydantic import Field

from bunri.settings import BrokerSettings


class MyApiSettings(BrokerSettings):
    service_name: str = "my-api"

    my_api_host: str = "127.0.0.1"
    my_api_port: int = 8004
    my_api_workers: int = Field(default=1, ge=1)

    photo_url_ttl_seconds: int = Field(default=300, ge=10)
    recent_sign_in_seconds: int = Field(
        default=300,
        ge=30,
        description="An account without a password (social sign-in only) may be deleted only "
        "this soon after signing in.",
    )
    deletion_attempts_per_hour: int = Field(
        default=5, ge=1, description="Wrong passwords an account deletion may be tried with."
    )
    session_revocation_seconds: int = Field(
        default=3600,
        ge=60,
        description="How long a deleted account's sign-in sessions stay revoked in Redis: at "
        "least an access token's lifetime (auth-api's access_token_ttl_seconds) plus leeway.",
    )
    export_page_rows: int = Field(default=200, ge=10, le=5000)
    profile_photo_priority: int = Field(default=5, ge=0, le=10)
