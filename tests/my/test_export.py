"""GET /api/v1/my/export: everything stored about the caller, one JSON document, streamed; and
nothing about anyone else."""

from __future__ import annotations

import json
import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.storage import create_object_store
from tests.support.my import a_life_of_data, my_api_client, my_settings
from tests.support.users import new_user

EXPORT = "/api/v1/my/export"
PROFILE = "/api/v1/my/profile"


async def test_the_export_holds_everything_about_the_person_and_nothing_else(
    my: httpx.AsyncClient,
    user: dict[str, str],
    auth_url: str,
    clean_database: AsyncEngine,
    pipeline_env: dict[str, str],
) -> None:
    store = create_object_store(my_settings(pipeline_env))
    assert (await my.get(PROFILE, headers=user)).status_code == 200
    profile = await my.patch(
        PROFILE,
        headers=user | {"If-Match": '"1"'},
        json={"nickname": "내보내기", "region": {"province": "11", "district": "11680"}},
    )
    assert profile.status_code == 200, profile.text
    user_id = uuid.UUID(profile.json()["user_id"])
    scan_ids = await a_life_of_data(clean_database, user_id, store, scans=5)
    someone_else = await new_user(auth_url)
    other_id = uuid.UUID(
        (await my.get("/api/v1/my/profile", headers=someone_else)).json()["user_id"]
    )
    await a_life_of_data(clean_database, other_id, store, scans=3)

    async with my.stream("GET", EXPORT, headers=user) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        assert answer.headers["cache-control"] == "no-store"
        chunks = [chunk async for chunk in answer.aiter_bytes()]
    document = json.loads(b"".join(chunks))

    assert document["format"] == "bunri-export/1"
    assert document["account"]["id"] == str(user_id)
    assert document["account"]["nickname"] == "내보내기"
    assert "password_hash" not in document["account"]
    assert [link["provider"] for link in document["social_accounts"]] == ["kakao"]
    assert document["profile"]["district_code"] == "11680"
    assert [scan["id"] for scan in document["scans"]] == [str(one) for one in sorted(scan_ids)]
    first = next(scan for scan in document["scans"] if scan["id"] == str(scan_ids[0]))
    assert first["result"]["classification"]["middle"] == "유리병"
    assert first["image_url"] == f"/api/v1/scans/{scan_ids[0]}/image"
    assert first["feedback"]["correct_middle"] == "캔류"
    assert "request_digest" not in first
    assert [len(c["messages"]) for c in document["conversations"]] == [2]
    assert document["conversations"][0]["messages"][1]["text"] == "헹궈서 버려요"
    assert [job["question"] for job in document["chat_batch_questions"]] == ["라벨은?"]
    assert [report["text"] for report in document["weekly_reports"]] == [
        "이번 주 2개를 분리했어요."
    ]
    assert document["character"] is None
    assert str(other_id) not in json.dumps(document)


async def test_a_large_history_is_streamed_in_pages(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, auth_url: str, redis: Redis
) -> None:
    user = await new_user(auth_url)
    settings = my_settings(pipeline_env, export_page_rows=10)
    store = create_object_store(settings)
    async with my_api_client(settings) as my:
        user_id = uuid.UUID((await my.get(PROFILE, headers=user)).json()["user_id"])
        scan_ids = await a_life_of_data(clean_database, user_id, store, scans=35)
        async with my.stream("GET", EXPORT, headers=user) as answer:
            chunks = [chunk async for chunk in answer.aiter_bytes()]
    document = json.loads(b"".join(chunks))
    assert [scan["id"] for scan in document["scans"]] == [str(one) for one in sorted(scan_ids)]


async def test_the_export_needs_a_token(my: httpx.AsyncClient) -> None:
    answer = await my.get(EXPORT)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_missing"
