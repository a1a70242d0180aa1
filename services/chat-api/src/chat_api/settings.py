from __future__ import annotations

from pydantic import Field

from bunri.settings import BunriSettings


class ChatApiSettings(BunriSettings):
    service_name: str = "chat-api"

    chat_api_host: str = "127.0.0.1"
    chat_api_port: int = 8003
    chat_api_workers: int = Field(default=1, ge=1)
