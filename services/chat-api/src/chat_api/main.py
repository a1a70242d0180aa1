"""`bunri-chat-api`: serve chat-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from chat_api.settings import ChatApiSettings


def main() -> None:
    settings = ChatApiSettings()
    serve(
        "chat_api.app:create_app",
        settings,
        host=settings.chat_api_host,
        port=settings.chat_api_port,
        workers=settings.chat_api_workers,
        # Server heartbeats: WebSocket pings; a client that stops answering them is dropped.
        ws_ping_interval=settings.chat_heartbeat_seconds,
        ws_ping_timeout=settings.chat_heartbeat_seconds,
        # Tokens are a few bytes: compressing each frame costs more CPU than it saves.
        ws_per_message_deflate=False,
    )
