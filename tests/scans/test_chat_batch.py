"""The queued chat path end to end: chat-api records the question and publishes it to
`chat.batch`, the real AI worker process answers it from the guides, the client polls; and a
dead-lettered question is failed by the reaper."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.scans.crash import Workers, set_queue_policy
from tests.support.chat import chat_server
from tests.support.users import new_user


async def poll(client: httpx.AsyncClient, url: str, user: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = (await client.get(url, headers=user)).json()
        if body["status"] != "queued" or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def test_a_queued_question_is_answered_by_the_ai_worker(
    database_url: str,
    redis_url: str,
    auth_url: str,
    broker_url: str,
    ai_worker: Any,
    clean_database: object,
) -> None:
    owner, stranger = await new_user(auth_url), await new_user(auth_url)
    with chat_server(
        database_url=database_url, redis_url=redis_url, auth_url=auth_url, broker_url=broker_url
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            accepted = await client.post(
                "/api/v1/chat/batch", json={"text": "우유팩은 어떻게 버려요?"}, headers=owner
            )
            assert accepted.status_code == 202, accepted.text
            status_url = accepted.json()["status_url"]
            assert accepted.headers["location"] == status_url
            done = await poll(client, status_url, owner)
            assert (await client.get(status_url, headers=stranger)).status_code == 404
            empty = await client.post("/api/v1/chat/batch", json={"text": ""}, headers=owner)
            assert empty.status_code == 422
            foreign_scan = await client.post(
                "/api/v1/chat/batch",
                json={"text": "이건요?", "scan_id": "01a2092b-0000-7000-8000-000000000000"},
                headers=owner,
            )
    assert done["status"] == "completed", done
    assert [source["middle"] for source in done["sources"]] == ["종이팩"]
    assert "출처: 종이팩 분리배출 안내" in done["answer"]
    assert foreign_scan.status_code == 404
    assert foreign_scan.json()["error"]["code"] == "scan_not_found"


async def test_an_expired_batch_question_is_failed_by_the_reaper(
    workers: Workers,
    crash_env: dict[str, str],
    database_url: str,
    redis_url: str,
    auth_url: str,
) -> None:
    broker = crash_env["BUNRI_BROKER_URL"]
    # No AI worker on this vhost: the question waits until its TTL (here 300 ms) runs out.
    await asyncio.to_thread(set_queue_policy, broker, "chat.batch", {"message-ttl": 300})
    workers.reaper()
    user = await new_user(auth_url)
    with chat_server(
        database_url=database_url, redis_url=redis_url, auth_url=auth_url, broker_url=broker
    ) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            accepted = await client.post(
                "/api/v1/chat/batch", json={"text": "건전지"}, headers=user
            )
            done = await poll(client, accepted.json()["status_url"], user)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "expired"
