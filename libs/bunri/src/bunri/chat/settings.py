from __future__ import annotations

from pydantic import Field, SecretStr

from bunri.settings import BunriSettings


class LlmSettings(BunriSettings):
    """The OpenAI-compatible model that writes answers (chat-api live, the AI worker in batch)."""

    llm_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible API (…/v1). Unset: the guide-only responder answers.",
    )
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    llm_read_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest silence between two streamed chunks."
    )
    llm_connect_retries: int = Field(default=2, ge=0)
    llm_max_tokens: int = Field(default=600, ge=16)
    llm_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections to the model, all kept alive between answers: every "
        "stream holds one, and a new TCP (and TLS) connection per question costs more CPU "
        "than the whole answer's tokens.",
    )

    @property
    def llm_key(self) -> str:
        # Local OpenAI-compatible servers take any key; the SDK insists on one.
        return self.llm_api_key.get_secret_value() if self.llm_api_key else "unused"
