"""The chat WebSocket against a real model server: answers, cancels, failures, slow readers, auth,
busy, rate limits, reconnects with history, and the conversations API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.chat import StartChat, ask, frames_until, open_chat
from tests.support.fake_llm import FakeLLM, Script
from tests.support.users import new_user


async def conversation(chat_url: str, user: dict[str, str], conversation_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        return await client.get(f"/api/v1/chat/conversations/{conversation_id}", headers=user)


async def read_until_closed(socket: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(socket.recv(), 10)


async def test_an_answer_streams_grounded_and_is_kept(
    chat_url: str, llm: FakeLLM, auth_url: str
) -> None:
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        frames = await ask(socket, "다 마신 페트병은 어떻게 버려요?", client_msg_id="q1")

    start, *deltas, done = frames
    assert start["type"] == "start"
    assert [frame["seq"] for frame in deltas] == list(range(1, 11))
    assert {frame["message_id"] for frame in deltas} == {start["message_id"]}
    assert done["type"] == "done"
    assert done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == 10
    assert any(source["middle"] == "무색페트병" for source in done["sources"])
    # The guide went to the model with the question, in a streamed request.
    body = llm.calls[0].body
    assert "무색페트병" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "다 마신 페트병은 어떻게 버려요?"}
    assert (body["model"], body["stream"], body["stream_options"]) == (
        "gpt-4o-mini",
        True,
        {"include_usage": True},
    )
    assert body["max_tokens"] == 600

    stored = (await conversation(chat_url, user, start["conversation_id"])).json()
    assert [message["role"] for message in stored["messages"]] == ["user", "assistant"]
    answer = stored["messages"][1]
    assert answer["text"] == "".join(frame["text"] for frame in deltas)
    assert answer["state"] == "complete"


async def test_cancel_stops_the_upstream_request_and_keeps_the_partial_answer(
    chat_url: str, llm: FakeLLM, auth_url: str
) -> None:
    llm.script = Script(tokens=[f"t{n} " for n in range(200)], seconds_per_token=0.02)
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        await socket.recv()  # ready
        await socket.send(json.dumps({"type": "message", "text": "유리병 버리는 법"}))
        start = json.loads(await socket.recv())
        for _ in range(3):
            assert json.loads(await socket.recv())["type"] == "delta"
        await socket.send(json.dumps({"type": "cancel"}))
        rest = await frames_until(socket)
    done = rest[-1]
    assert (done["type"], done["finish_reason"]) == ("done", "cancelled")
    deadline = time.monotonic() + 5
    while not llm.calls[0].closed_early:
        assert time.monotonic() < deadline, "the upstream request was not closed"
        await asyncio.sleep(0.05)
    assert llm.calls[0].sent < 200
    answer = (await conversation(chat_url, user, start["conversation_id"])).json()["messages"][1]
    assert answer["state"] == "cancelled"
    assert answer["text"].startswith("t0 t1 t2 ")


async def test_an_upstream_failure_mid_answer_is_an_error_and_a_failed_partial_answer(
    chat_url: str, llm: FakeLLM, auth_url: str
) -> None:
    llm.script = Script(tokens=[f"t{n} " for n in range(10)], fail_after=3)
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        await socket.recv()
        start, *deltas, error = await ask(socket, "건전지 버리기")
        # The connection stays usable.
        llm.script = Script(tokens=["ok"])
        assert (await ask(socket, "건전지 버리기"))[-1]["type"] == "done"
    assert [frame["text"] for frame in deltas] == ["t0 ", "t1 ", "t2 "]
    assert (error["type"], error["code"], error["message_id"]) == (
        "error",
        "upstream_failed",
        start["message_id"],
    )
    answer = (await conversation(chat_url, user, start["conversation_id"])).json()["messages"][1]
    assert (answer["state"], answer["error_code"], answer["text"]) == (
        "failed",
        "upstream_failed",
        "t0 t1 t2 ",
    )


async def test_a_model_that_hangs_up_is_asked_again_then_reported(
    start_chat: StartChat, llm: FakeLLM, auth_url: str
) -> None:
    """A connection the model drops before answering (down, or a kept-alive connection it had
    just closed) is retried, up to `llm_connect_retries`; then the person is told, and can ask
    again once the model is back."""
    hangups = 0

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hangups
        hangups += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    user = await new_user(auth_url)
    async with server:
        with start_chat(llm_base_url=f"http://127.0.0.1:{port}/v1", llm_connect_retries=2) as url:
            async with await open_chat(url, user) as socket:
                await socket.recv()
                start, error = await ask(socket, "건전지 버리기")
    assert (error["code"], error["message_id"]) == ("upstream_unavailable", start["message_id"])
    assert hangups == 3


async def test_a_model_that_never_answers_is_a_timeout_asked_once(
    start_chat: StartChat, auth_url: str
) -> None:
    requests = 0

    async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        await reader.read(65536)  # the request, then nothing back
        await asyncio.sleep(30)

    server = await asyncio.start_server(stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    user = await new_user(auth_url)
    async with server:
        with start_chat(
            llm_base_url=f"http://127.0.0.1:{port}/v1", llm_read_timeout_seconds=0.5
        ) as url:
            async with await open_chat(url, user) as socket:
                await socket.recv()
                _, error = await ask(socket, "건전지 버리기")
    # The model may be working on it: asking again would only double its load.
    assert (error["code"], requests) == ("upstream_timeout", 1)


async def test_a_database_outage_is_an_error_frame_not_a_silent_wait(
    start_chat: StartChat, auth_url: str
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    user = await new_user(auth_url)
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/bunri"
    with start_chat(database_url=down) as url:
        async with await open_chat(url, user) as chat:
            await chat.recv()
            error = json.loads(await asyncio.wait_for(_ask_once(chat), 15))
    assert (error["type"], error["code"]) == ("error", "dependency_unavailable")


async def _ask_once(chat: ClientConnection) -> str | bytes:
    await chat.send(json.dumps({"type": "message", "text": "건전지 버리기"}))
    return await chat.recv()


async def test_a_client_that_stops_reading_is_dropped_and_the_upstream_closed(
    start_chat: StartChat, llm: FakeLLM, auth_url: str
) -> None:
    # Big fast tokens: far more than the socket buffers hold.
    llm.script = Script(tokens=["x" * 4096] * 10_000, seconds_per_token=0.002)
    user = await new_user(auth_url)
    with start_chat(chat_send_timeout_seconds=1) as url:
        socket = await open_chat(url, user, receive_buffer=4096)
        await socket.recv()
        await socket.send(json.dumps({"type": "message", "text": "종이"}))
        # ... and read nothing for a while.
        deadline = time.monotonic() + 20
        while not llm.calls or not llm.calls[0].closed_early:
            assert time.monotonic() < deadline, "the server kept buffering for a stalled client"
            await asyncio.sleep(0.1)
        assert llm.calls[0].sent < 10_000
        with pytest.raises(ConnectionClosed) as closed:
            await read_until_closed(socket)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4408
        await socket.close()


async def test_authentication_at_the_handshake_or_by_first_frame(
    start_chat: StartChat, auth_url: str
) -> None:
    user = await new_user(auth_url)
    token = user["Authorization"].removeprefix("Bearer ")
    with start_chat(chat_auth_timeout_seconds=0.5) as url:
        for headers, first in [
            ({"Authorization": "Bearer not-a-token"}, None),
            ({}, None),  # says nothing within the timeout
            ({}, {"type": "auth", "token": "forged"}),
            ({}, {"type": "message", "text": "hi"}),
        ]:
            async with await open_chat(url, headers) as socket:
                if first is not None:
                    await socket.send(json.dumps(first))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), 5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 4401
        async with await open_chat(url, {}) as socket:
            await socket.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await socket.recv())["type"] == "ready"
            await socket.send(json.dumps({"type": "ping"}))
            assert json.loads(await socket.recv()) == {"type": "pong"}


async def test_one_answer_at_a_time_and_a_rate_limit(
    start_chat: StartChat, llm: FakeLLM, auth_url: str
) -> None:
    llm.script = Script(tokens=[f"t{n} " for n in range(20)], seconds_per_token=0.02)
    user = await new_user(auth_url)
    with start_chat(chat_messages_per_minute=2) as url:
        async with await open_chat(url, user) as socket:
            await socket.recv()
            await socket.send(json.dumps({"type": "message", "text": "종이컵"}))
            assert json.loads(await socket.recv())["type"] == "start"
            await socket.send(json.dumps({"type": "message", "text": "또 질문"}))
            frames = await frames_until(socket)
            busy = [frame for frame in frames if frame["type"] == "error"]
            assert busy
            assert busy[0]["code"] == "busy"
            frames = await frames_until(socket)  # the first answer still ends normally
            assert frames[-1]["type"] == "done"
            assert (await ask(socket, "두 번째"))[-1]["type"] == "done"
            limited = (await ask(socket, "세 번째"))[-1]
    assert (limited["type"], limited["code"]) == ("error", "rate_limited")
    assert limited["retry_after"] > 0


async def test_a_reconnect_continues_the_conversation_and_a_resent_question_is_not_asked_again(
    chat_url: str, llm: FakeLLM, auth_url: str
) -> None:
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        await socket.recv()
        first = await ask(socket, "우유팩은요?", client_msg_id="a")
    conversation_id = first[0]["conversation_id"]
    async with await open_chat(chat_url, user) as socket:
        await socket.recv()
        again = await ask(socket, "우유팩은요?", client_msg_id="a", conversation_id=conversation_id)
        follow = await ask(socket, "뚜껑은요?", client_msg_id="b", conversation_id=conversation_id)
    assert again[-1]["replayed"] is True
    assert again[0]["message_id"] == first[0]["message_id"]
    assert len(llm.calls) == 2  # the resend was answered from storage
    history = llm.calls[1].body["messages"]
    assert [m["role"] for m in history[1:]] == ["user", "assistant", "user"]
    assert follow[-1]["type"] == "done"
    stored = (await conversation(chat_url, user, conversation_id)).json()
    assert len(stored["messages"]) == 4


async def test_conversations_are_listed_read_and_deleted_by_their_owner_only(
    chat_url: str, auth_url: str
) -> None:
    owner, stranger = await new_user(auth_url), await new_user(auth_url)
    async with await open_chat(chat_url, owner) as socket:
        await socket.recv()
        conversation_id = (await ask(socket, "형광등"))[0]["conversation_id"]
        foreign = await ask(socket, "x", conversation_id=str(uuid.uuid4()))
        assert foreign[-1]["code"] == "conversation_not_found"
        scan = await ask(socket, "x", scan_id=str(uuid.uuid4()))
        assert scan[-1]["code"] == "scan_not_found"
    base = "/api/v1/chat/conversations"
    async with httpx.AsyncClient(base_url=chat_url) as client:
        listed = (await client.get(base, headers=owner)).json()
        assert [c["id"] for c in listed["items"]] == [conversation_id]
        assert (await client.get(base, headers=stranger)).json()["items"] == []
        for method in ("GET", "DELETE"):
            response = await client.request(method, f"{base}/{conversation_id}", headers=stranger)
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "conversation_not_found"
        assert (await client.delete(f"{base}/{conversation_id}", headers=owner)).status_code == 204
        assert (await client.get(f"{base}/{conversation_id}", headers=owner)).status_code == 404
        assert (await client.get(base)).status_code == 401


async def test_conversations_page_newest_first_like_every_list(
    chat_url: str, auth_url: str
) -> None:
    owner = await new_user(auth_url)
    async with await open_chat(chat_url, owner) as socket:
        await socket.recv()
        opened = [(await ask(socket, text))[0]["conversation_id"] for text in ("병", "캔", "종이")]
    base = "/api/v1/chat/conversations"
    async with httpx.AsyncClient(base_url=chat_url, headers=owner) as client:
        first = (await client.get(base, params={"limit": 2})).json()
        assert [c["id"] for c in first["items"]] == opened[:0:-1]
        rest = (await client.get(base, params={"limit": 2, "cursor": first["next_cursor"]})).json()
        assert ([c["id"] for c in rest["items"]], rest["next_cursor"]) == ([opened[0]], None)
        refused = await client.get(base, params={"cursor": "not-a-cursor"})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_cursor"


async def test_without_a_model_the_guides_answer_and_say_when_they_cannot(
    start_chat: StartChat, auth_url: str
) -> None:
    user = await new_user(auth_url)
    with start_chat(llm_base_url=None) as url:
        async with await open_chat(url, user) as socket:
            await socket.recv()
            known = await ask(socket, "How do I throw away a glass bottle?")
            unknown = await ask(socket, "오늘 날씨 어때?")
    text = "".join(frame["text"] for frame in known if frame["type"] == "delta")
    assert known[-1]["sources"]
    assert "Source:" in text
    assert len([frame for frame in known if frame["type"] == "delta"]) > 5  # streamed
    said = "".join(frame["text"] for frame in unknown if frame["type"] == "delta")
    assert "찾지 못했어요" in said
    assert unknown[-1]["sources"] == []


async def test_the_terminal_chat_prints_answers_as_they_stream(
    start_chat: StartChat, auth_url: str
) -> None:
    import io

    from bunri_programs.client.chat import chat_url, run_chat

    user = await new_user(auth_url)
    questions = iter(["우유팩은 어떻게 버려요?", "그럼 뚜껑은요?", ""])
    out = io.StringIO()
    with start_chat(llm_base_url=None) as url:
        code = await asyncio.to_thread(
            run_chat,
            chat_url(url),
            user["Authorization"].removeprefix("Bearer "),
            ask=lambda: next(questions),
            out=out,
        )
    assert code == 0
    printed = out.getvalue()
    assert "[guides: 종이팩]" in printed
    assert "출처: 종이팩 분리배출 안내" in printed


async def test_frames_that_are_not_json_objects_get_an_error_and_the_socket_lives_on(
    chat_url: str, auth_url: str
) -> None:
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        await socket.recv()
        bad_frames: list[str | bytes] = ["not json", "[1, 2]", b"\x00\x01binary"]
        for bad in [*bad_frames, json.dumps({"type": "dance"})]:
            await socket.send(bad)
            reply = json.loads(await socket.recv())
            assert (reply["type"], reply["code"]) == ("error", "bad_frame")
        empty = await ask(socket, "   ")
        assert empty[-1]["code"] == "empty_message"
        too_long = await ask(socket, "가" * 2001)
        assert too_long[-1]["code"] == "message_too_long"
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}


async def test_a_resent_question_still_being_answered_is_not_asked_twice(
    chat_url: str, llm: FakeLLM, auth_url: str
) -> None:
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as first:
        await first.recv()
        conversation_id = (await ask(first, "형광등"))[0]["conversation_id"]
        llm.script = Script(tokens=[f"t{n} " for n in range(40)], seconds_per_token=0.02)
        question = {"conversation_id": conversation_id, "client_msg_id": "slow"}
        await first.send(json.dumps({"type": "message", "text": "건전지", **question}))
        assert json.loads(await first.recv())["type"] == "start"
        # The phone reconnects and resends while the answer still streams on the old socket.
        async with await open_chat(chat_url, user) as second:
            await second.recv()
            resent = await ask(second, "건전지", **question)
        assert (await frames_until(first))[-1]["type"] == "done"
    assert (resent[-1]["type"], resent[-1]["code"]) == ("error", "message_in_progress")
    assert len(llm.calls) == 2


async def test_answers_start_one_at_a_time_but_not_waiting_for_the_model(
    start_chat: StartChat, llm: FakeLLM, auth_url: str
) -> None:
    # The model takes 0.6 s to take a request, then 0.6 s for each token. The one starting turn
    # covers the first answer's work here, not its wait for the model: the second answer starts
    # at once.
    llm.script = Script(tokens=["a ", "b "], seconds_per_token=0.6, seconds_to_respond=0.6)
    first_user, second_user = await new_user(auth_url), await new_user(auth_url)

    async def arrival(socket: ClientConnection) -> tuple[dict[str, object], float]:
        frame = json.loads(await socket.recv())
        return frame, time.monotonic()

    with start_chat(chat_concurrent_starts=1) as url:
        async with (
            await open_chat(url, first_user) as first,
            await open_chat(url, second_user) as second,
        ):
            await first.recv()  # ready
            await second.recv()
            await first.send(json.dumps({"type": "message", "text": "유리병 버리는 법"}))
            assert json.loads(await first.recv())["type"] == "start"
            asked = time.monotonic()
            await second.send(json.dumps({"type": "message", "text": "캔 버리는 법"}))
            (start, start_at), (token, token_at) = await asyncio.gather(
                arrival(second), arrival(first)
            )
            assert (start["type"], token["type"]) == ("start", "delta")
            assert start_at - asked < 0.3  # not after the model took the first request
            assert start_at < token_at
            assert (await frames_until(first))[-1]["type"] == "done"
            assert (await frames_until(second))[-1]["type"] == "done"
