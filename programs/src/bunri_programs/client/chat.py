"""`bunri chat`: an interactive chat in the terminal, printing the answer's tokens as they arrive.
Ctrl-C while an answer streams cancels it; an empty line or Ctrl-D ends the chat."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from websockets.sync.client import ClientConnection, connect


def chat_url(base_url: str) -> str:
    root = base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return root + "/api/v1/chat/ws"


def run_chat(
    url: str,
    token: str,
    *,
    ask: Callable[[], str],
    out: TextIO,
    scan_id: str | None = None,
) -> int:
    """Chat until the person stops; 0, or 1 if the server refused us."""
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        ready = json.loads(socket.recv())
        if ready.get("type") != "ready":
            out.write(f"refused: {ready}\n")
            return 1
        conversation_id: str | None = None
        while True:
            try:
                text = ask().strip()
            except EOFError:
                text = ""
            if not text:
                return 0
            frame: dict[str, Any] = {"type": "message", "text": text}
            if conversation_id:
                frame["conversation_id"] = conversation_id
            elif scan_id:
                frame["scan_id"] = scan_id
            socket.send(json.dumps(frame))
            conversation_id = _print_answer(socket, out) or conversation_id


def _print_answer(socket: ClientConnection, out: TextIO) -> str | None:
    conversation_id = None
    while True:
        try:
            frame = json.loads(socket.recv())
        except KeyboardInterrupt:
            socket.send(json.dumps({"type": "cancel"}))
            continue
        kind = frame.get("type")
        if kind == "start":
            conversation_id = frame["conversation_id"]
        elif kind == "delta":
            out.write(frame["text"])
            out.flush()
        elif kind == "done":
            sources = ", ".join(source["middle"] for source in frame.get("sources") or [])
            note = " (cancelled)" if frame["finish_reason"] == "cancelled" else ""
            out.write(f"{note}\n" + (f"[guides: {sources}]\n" if sources else ""))
            return conversation_id
        elif kind == "error":
            out.write(f"\n[{frame['code']}] {frame['message']}\n")
            return conversation_id
