"""Settings shared by every service and worker, read from `BUNRI_*` environment variables.

Each deployable extends `BunriSettings` with its own fields; all of them read the same prefix so one
env file can configure the whole stack.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureSettingsError(ValueError):
    """A secret still holds its development default outside development."""


class BunriSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BUNRI_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    # Fields whose default is only fit for a developer's machine; see `refuse_insecure_defaults`.
    development_only_defaults: ClassVar[tuple[str, ...]] = ()

    environment: Environment = Environment.DEVELOPMENT
    service_name: str = "bunri"
    log_level: str = "INFO"
    log_json: bool = True
    state_dir: Path = Field(
        default=Path(".bunri"),
        description="Where a development machine keeps generated state (dev signing key).",
    )

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/bunri"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_pre_ping: bool = Field(
        default=False,
        description="Test each pooled connection with a round trip before use. Off: a request "
        "that meets a connection the database dropped gets a 503 (the pool then discards "
        "every older connection), instead of every request paying ~0.5 ms of CPU and a round "
        "trip.",
    )
    database_echo: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_max_connections: int = Field(
        default=100,
        ge=1,
        description="Connections to Redis per process; past them a command waits for one "
        "(up to redis_pool_timeout_seconds) instead of failing.",
    )
    redis_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    cache_redis_url: str | None = Field(
        default=None,
        description="The Redis of caches (the profile's); unset: redis_url. Apart in "
        "production: a cache may evict (allkeys-lru), the revocations in redis_url must not.",
    )

    @property
    def caches_redis_url(self) -> str:
        return self.cache_redis_url or self.redis_url

    auth_issuer: str = "bunri-auth"
    auth_audience: str = "bunri-api"
    auth_jwks_url: str = "http://127.0.0.1:8080/.well-known/jwks.json"
    auth_jwks_cache_seconds: int = Field(default=600, ge=1)
    auth_jwks_min_refresh_seconds: float = Field(
        default=10.0, ge=0, description="At most one JWKS fetch per this interval on unknown kids."
    )
    auth_leeway_seconds: int = Field(default=30, ge=0)

    s3_bucket: str | None = Field(
        default=None, description="Scan images go to this bucket; unset: a local folder."
    )
    s3_endpoint_url: str | None = None
    s3_region: str = "ap-northeast-2"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_max_connections: int = Field(default=50, ge=1)

    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=50_000_000, ge=1)

    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    ws_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="The largest WebSocket message a server reads (a bigger one closes the "
        "socket, 1009) before anything, authentication included, looks at it.",
    )
    forwarded_allow_ips: str = "127.0.0.1"
    gateway_body_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="bunri standalone's gateway: the longest wait for the next piece of a "
        "request body before it answers 408 (nginx's client_body_timeout in production).",
    )

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @model_validator(mode="after")
    def refuse_insecure_defaults(self) -> BunriSettings:
        if self.is_development:
            return self
        insecure = [
            name
            for name in self.development_only_defaults
            if _secret_value(getattr(self, name))
            == _secret_value(type(self).model_fields[name].get_default(call_default_factory=True))
        ]
        if insecure:
            names = ", ".join(f"BUNRI_{name.upper()}" for name in insecure)
            raise InsecureSettingsError(
                f"{names} must be set explicitly when BUNRI_ENVIRONMENT={self.environment.value}; "
                "the defaults are for development only"
            )
        return self


def _secret_value(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class BrokerSettings(BunriSettings):
    """For the parties that publish or consume tasks."""

    development_only_defaults: ClassVar[tuple[str, ...]] = ("broker_url",)

    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    publish_confirm_timeout_seconds: float = Field(default=5.0, gt=0)
    outbox_relay_interval_seconds: float = Field(default=1.0, gt=0)
    broker_folder: Path | None = Field(
        default=None,
        description="For broker_url filesystem:// (standalone without RabbitMQ): where messages "
        "wait, as files.",
    )

    @property
    def uses_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))
