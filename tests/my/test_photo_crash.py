"""The storage worker killed in the middle of a profile photo (after the new squares are stored,
before the profile points at them): at every moment the profile shows a photo that exists, the
old one or the new one, and the restarted worker finishes the job without writing anything twice."""

from __future__ import annotations

import asyncio
import time

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.my.test_photo import upload
from tests.scans.crash import Workers, marked_photo, s3_client
from tests.support.my import my_api_client, my_settings, wait_for_photo
from tests.support.pictures import photo

PROFILE = "/api/v1/my/profile"


async def shown_photo_exists(my: httpx.AsyncClient, user: dict[str, str]) -> dict[str, object]:
    """The profile now, having checked that the photo it names can be fetched (a photo replaced
    between the read and the fetch is gone by design: then the profile must show the new one)."""
    profile: dict[str, object] = (await my.get(PROFILE, headers=user)).json()
    photo_now = profile["photo"]
    assert isinstance(photo_now, dict)
    assert photo_now["url"] is not None, f"the profile shows no photo: {profile}"
    for url in (photo_now["url"], photo_now["thumbnail_url"]):
        redirect = await my.get(str(url), headers=user)
        assert redirect.status_code == 307, redirect.text
        async with httpx.AsyncClient() as outside:
            stored = await outside.get(redirect.headers["location"])
        if stored.status_code != 200:
            after = (await my.get(PROFILE, headers=user)).json()["photo"]
            assert after["url"] != photo_now["url"], f"{url} names an object that is not there"
    return profile


async def test_a_photo_task_killed_midway_leaves_the_old_photo_or_the_new_never_none(
    workers: Workers,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    user: dict[str, str],
) -> None:
    storage = workers.storage(BUNRI_FAULT_CRASH_TIMES="1")
    async with my_api_client(my_settings(crash_env)) as my:
        await upload(my, user, photo(seed=21))
        first = await wait_for_photo(my, user, "ready")
        user_id = first["user_id"]

        accepted = await upload(my, user, marked_photo(seed=22))
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 90
        while True:
            profile = await shown_photo_exists(my, user)
            photo_now = profile["photo"]
            assert isinstance(photo_now, dict)
            if photo_now["status"] == "ready" and photo_now["url"] != first["photo"]["url"]:
                break
            assert time.monotonic() < deadline, f"the new photo never arrived: {profile}"
            await asyncio.sleep(0.02)

    assert storage.starts >= 2, "the worker was not killed"
    s3 = s3_client(crash_env["BUNRI_S3_ENDPOINT_URL"])
    listed = s3.list_object_versions(
        Bucket=crash_env["BUNRI_S3_BUCKET"], Prefix=f"profiles/{user_id}/"
    )
    live = sorted(item["Key"] for item in listed.get("Versions", ()) if item["IsLatest"])
    assert live == [f"profiles/{user_id}/2/512.jpg", f"profiles/{user_id}/2/96.jpg"]
    written = [item["Key"] for item in listed.get("Versions", ()) if "/2/" in item["Key"]]
    assert sorted(written) == live, "a square of the new photo was written twice"
    journal = storage.journal
    try:
        (task,) = [
            task
            for task in journal.tasks(limit=100)
            if task.task_id.startswith(f"my.profile_photo:{user_id}:2.")
        ]
    finally:
        journal.close()
    assert task.crashes == 1
    assert task.outcome == "stored"
