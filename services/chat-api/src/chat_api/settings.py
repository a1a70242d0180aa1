from __future__ import annotations

from pydantic import Field

from bunri.chat.settings import LlmSettings
from bunri.settings import BrokerSettings


class ChatApiSettings(LlmSettings, BrokerSettings):
    service_name: str = "chat-api"

    chat_api_host: str = "127.0.0.1"
    chat_api_port: int = 8003
    chat_api_workers: int = Field(default=1, ge=1)

    chat_auth_timeout_seconds: float = Field(default=5.0, gt=0)
    chat_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="WebSocket pings from the server this often."
    )
    chat_send_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a frame may wait for a client that takes none (its socket "
        "buffers full); past this it has stopped reading and is disconnected.",
    )
    chat_concurrent_starts: int = Field(
        default=2,
        ge=1,
        description="Answers being started at once in a process (the question recorded, its "
        "guides found, the prompt composed; not the request to the model); more wait their "
        "turn, so that the answers already streaming keep their pace through a wave of new "
        "questions.",
    )
    chat_sockets_per_user: int = Field(
        default=5, ge=1, description="Open chat sockets a person may hold in one process."
    )
    chat_unauthenticated_sockets_per_address: int = Field(
        default=20,
        ge=1,
        description="Sockets from one address not yet authenticated, in one process (many "
        "people can share an address behind a NAT; each has chat_auth_timeout_seconds).",
    )
    chat_max_question_chars: int = Field(default=2000, ge=1)
    chat_history_messages: int = Field(default=10, ge=0)
    chat_messages_per_minute: int = Field(default=20, ge=1)
    chat_batch_burst: int = Field(
        default=10, ge=1, description="Queued questions a person may send at once."
    )
    chat_batch_per_minute: float = Field(
        default=2, gt=0, description="How fast a person's burst of queued questions refills."
    )
