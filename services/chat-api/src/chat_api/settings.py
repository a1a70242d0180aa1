from __future__ import annotations

from pydantic import Field, SecretStr

from bunri.settings import BunriSettings


class ChatApiSettings(BunriSettings):
    service_name: str = "chat-api"

    chat_api_host: str = "127.0.0.1"
    chat_api_port: int = 8003
    chat_api_workers: int = Field(default=1, ge=1)

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

    chat_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    chat_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="WebSocket pings from the server this often."
    )
    chat_send_buffer_frames: int = Field(
        default=256,
        ge=8,
        description="Frames waiting for a client that is not reading; past this it is dropped.",
    )
    chat_max_question_chars: int = Field(default=2000, ge=1)
    chat_history_messages: int = Field(default=10, ge=0)
    chat_messages_per_minute: int = Field(default=20, ge=1)
