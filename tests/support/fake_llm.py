"""A local OpenAI-compatible server speaking the real Chat Completions streaming wire format
(server-sent events of `chat.completion.chunk` objects, a usage chunk with no choices, then
`data: [DONE]`), scripted by the test: how many tokens, how fast, and whether to break off."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Script:
    tokens: list[str] = field(default_factory=lambda: [f"tok{n} " for n in range(10)])
    seconds_per_token: float = 0.0
    # Break the connection after this many tokens (an upstream failure mid-answer).
    fail_after: int | None = None
    status: int = 200
    # How long the model takes to answer the request at all (its response headers).
    seconds_to_respond: float = 0.0
    # Each token's text is the moment it was sent (time.monotonic()), for latency measurements.
    stamp: bool = False
    # How long the body goes on after `data: [DONE]` before it ends.
    seconds_after_done: float = 0.0


@dataclass
class Call:
    body: dict[str, Any]
    started: float
    # The client's end of the TCP connection: calls on one kept-alive connection share it.
    client_port: int
    sent: int = 0
    # The client closed the request before the stream ended (a cancel reached the upstream).
    closed_early: bool = False
    finished: bool = False


class FakeLLM:
    def __init__(self) -> None:
        self.script = Script()
        self.calls: list[Call] = []
        self.url = ""  # set once served
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])]
        )

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        script = self.script
        if script.seconds_to_respond:
            await asyncio.sleep(script.seconds_to_respond)
        port = request.client.port if request.client else 0
        call = Call(body, time.monotonic(), port)  # its tokens are due from here
        self.calls.append(call)
        if script.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure"}}, status_code=script.status
            )
        if not body.get("stream"):
            call.finished = True
            return JSONResponse(_completion(body.get("model", "fake"), "".join(script.tokens)))
        return StreamingResponse(self._chunks(call, script), media_type="text/event-stream")

    async def _chunks(self, call: Call, script: Script) -> Any:
        model = call.body.get("model", "fake")
        try:
            for index, token in enumerate(script.tokens):
                if script.fail_after is not None and index == script.fail_after:
                    raise ConnectionAbortedError("scripted break mid-stream")
                if script.seconds_per_token:
                    # On the model's own schedule: token n is due at n * interval from the start.
                    due = call.started + (index + 1) * script.seconds_per_token
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                text = f"{time.monotonic():.6f} " if script.stamp else token
                yield _event(_chunk(model, {"content": text}, None))
                call.sent += 1
            yield _event(_chunk(model, {}, "stop"))
            usage = {
                "prompt_tokens": 10,
                "completion_tokens": len(script.tokens),
                "total_tokens": 10 + len(script.tokens),
            }
            yield _event(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
            yield b"data: [DONE]\n\n"
            await asyncio.sleep(script.seconds_after_done)
            call.finished = True
        except asyncio.CancelledError:
            call.closed_early = True
            raise


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def main() -> None:
    """`python -m tests.support.fake_llm PORT TOKENS SECONDS_PER_TOKEN`: serve it on its own,
    every answer stamped (for bench/chat.py)."""
    import sys

    import uvicorn

    port, tokens, seconds_per_token = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    fake = FakeLLM()
    fake.script = Script(tokens=["x"] * tokens, seconds_per_token=seconds_per_token, stamp=True)
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop")


if __name__ == "__main__":
    main()
