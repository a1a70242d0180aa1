"""Feedback on a scan (DESIGN.md section 3, "Feedback"): the owner of a completed scan says what
it really shows, PUT or POST (the same upsert: 201 the first time, 200 after), validated against
the taxonomy; GET reads it, and the scan itself carries it. Someone else's scan is a 404 exactly
as everywhere else; a scan without an answer yet is a 409. Scans are moved along by the workers'
own ledger on a vhost no worker reads, so these tests wait for no model."""

from __future__ import annotations

import asyncio
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import ScanFeedback, ScanStatus
from tests.scans.helpers import (
    Driver,
    assert_error,
    classified,
    complete_as_workers_do,
    count_rows,
)
from tests.support.pictures import photo
from tests.support.scans import submit
from tests.support.users import new_user

SCANS = "/api/v1/scans"
PAPER = {"major": "재활용폐기물", "middle": "종이", "minor": "신문지"}
PET = {"major": "재활용폐기물", "middle": "무색페트병", "minor": None}
PREDICTED = ("재활용폐기물", "플라스틱류", "세제·샴푸용기", 0.62)


@pytest.fixture
def driver(pipeline_env: dict[str, str]) -> Iterator[Driver]:
    driver = Driver(pipeline_env)
    yield driver
    driver.close()


async def completed_scan(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    *,
    seed: int = 1,
) -> str:
    scan_id: str = (await submit(idle, user, photo(96, 64, seed=seed))).json()["scan_id"]
    major, middle, minor, confidence = PREDICTED
    await complete_as_workers_do(
        driver,
        pipeline_env,
        scan_id,
        photo(96, 64, seed=seed),
        classified(major, middle, minor, confidence),
    )
    return scan_id


def feedback_url(scan_id: str) -> str:
    return f"{SCANS}/{scan_id}/feedback"


def instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


async def test_the_owner_gives_feedback_and_reads_it_back(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
) -> None:
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    assert_error(await idle.get(feedback_url(scan_id), headers=user), 404, "feedback_not_found")
    assert (await idle.get(f"{SCANS}/{scan_id}", headers=user)).json()["feedback"] is None

    given = await idle.put(
        feedback_url(scan_id), headers=user, json={"correct": PAPER, "note": "신문이에요"}
    )
    assert given.status_code == 201, given.text
    assert given.headers["location"] == feedback_url(scan_id)
    body = given.json()
    assert set(body) == {
        "scan_id",
        "correct",
        "predicted",
        "agrees",
        "note",
        "created_at",
        "updated_at",
    }
    assert body["scan_id"] == scan_id
    assert body["correct"] == PAPER
    major, middle, minor, confidence = PREDICTED
    assert body["predicted"] == {
        "major": major,
        "middle": middle,
        "minor": minor,
        "confidence": confidence,
        "unsure": False,
    }
    assert body["agrees"] is False
    assert body["note"] == "신문이에요"
    assert instant(body["created_at"]) == instant(body["updated_at"])

    assert (await idle.get(feedback_url(scan_id), headers=user)).json() == body
    scan = (await idle.get(f"{SCANS}/{scan_id}", headers=user)).json()
    assert scan["feedback"] == body
    listed = (await idle.get(SCANS, headers=user)).json()["items"]
    assert [item["feedback"] for item in listed] == [body]


async def test_feedback_again_replaces_it(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    first = await idle.post(feedback_url(scan_id), headers=user, json={"correct": PAPER})
    assert first.status_code == 201, first.text
    assert first.json()["note"] is None

    await asyncio.sleep(0.01)
    # Without a minor, a note, and the model's middle class: it agrees now.
    agreeing = {"major": PREDICTED[0], "middle": PREDICTED[1]}
    second = await idle.put(
        feedback_url(scan_id), headers=user, json={"correct": agreeing, "note": "다시 보니"}
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["correct"] == agreeing | {"minor": None}
    assert body["agrees"] is True
    assert body["note"] == "다시 보니"
    assert body["created_at"] == first.json()["created_at"]
    assert instant(body["updated_at"]) > instant(first.json()["updated_at"])

    # POST is the same upsert as PUT; the same body again still moves updated_at.
    third = await idle.post(
        feedback_url(scan_id), headers=user, json={"correct": agreeing, "note": "다시 보니"}
    )
    assert third.status_code == 200, third.text
    assert instant(third.json()["updated_at"]) > instant(body["updated_at"])
    assert (await idle.get(feedback_url(scan_id), headers=user)).json() == third.json()
    assert await count_rows(clean_database, ScanFeedback) == 1


async def test_feedback_given_twice_at_once_is_one_row(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    """A double tap: two first feedbacks at the same moment, neither a unique-key error."""
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    answers = await asyncio.gather(
        *(
            idle.put(feedback_url(scan_id), headers=user, json={"correct": correct})
            for correct in (PAPER, PET, PAPER, PET)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 200, 201], [answer.text for answer in answers]
    assert await count_rows(clean_database, ScanFeedback) == 1


async def test_another_users_scan_is_a_404_for_feedback_too(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    auth_url: str,
) -> None:
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    given = await idle.put(feedback_url(scan_id), headers=user, json={"correct": PAPER})
    assert given.status_code == 201
    intruder = await new_user(auth_url)
    missing = feedback_url(str(uuid.uuid4()))

    for method in ("GET", "PUT", "POST"):
        body = None if method == "GET" else {"correct": PET}
        answer = await idle.request(method, feedback_url(scan_id), headers=intruder, json=body)
        assert_error(answer, 404, "scan_not_found")
        # The same answer as for a scan that does not exist at all.
        nowhere = await idle.request(method, missing, headers=intruder, json=body)
        assert answer.json() == nowhere.json()
    assert (await idle.get(feedback_url(scan_id), headers=user)).json() == given.json()
    assert_error(await idle.get(feedback_url(scan_id)), 401, "token_missing")


@pytest.mark.parametrize(
    "correct",
    [
        {"major": "없는대분류", "middle": "종이"},
        {"major": "재활용폐기물", "middle": "없는중분류"},
        {"major": "일반종량제폐기물", "middle": "종이"},  # a real middle class, of another major
        {"major": "재활용폐기물", "middle": "종이", "minor": "생수병"},  # a minor of another
        {"major": "재활용폐기물", "middle": "종이", "minor": "없는소분류"},
        {"major": "  ", "middle": "종이"},
    ],
)
async def test_a_class_the_taxonomy_does_not_have_is_a_422(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    correct: dict[str, Any],
) -> None:
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    body = assert_error(
        await idle.put(feedback_url(scan_id), headers=user, json={"correct": correct}),
        422,
        "unknown_class",
    )
    assert "taxonomy" in body["error"]["message"] or "class" in body["error"]["message"]
    assert_error(await idle.get(feedback_url(scan_id), headers=user), 404, "feedback_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"correct": {"major": "재활용폐기물"}},
        {"correct": {"major": "재활용폐기물", "middle": ""}},
        {"correct": {"major": "재활용폐기물", "middle": "종" * 65}},
        {"correct": PAPER, "note": "n" * 501},
        {"correct": "재활용폐기물/종이"},
    ],
)
async def test_a_malformed_body_is_a_422(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    body: dict[str, Any],
) -> None:
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    assert_error(
        await idle.put(feedback_url(scan_id), headers=user, json=body), 422, "validation_error"
    )


async def test_class_names_typed_decomposed_are_the_taxonomys(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
) -> None:
    """Hangul some keyboards send decomposed (NFD) names the same class."""
    scan_id = await completed_scan(idle, user, driver, pipeline_env)
    decomposed = {name: unicodedata.normalize("NFD", value) for name, value in PAPER.items()}
    assert decomposed != PAPER
    given = await idle.put(feedback_url(scan_id), headers=user, json={"correct": decomposed})
    assert given.status_code == 201, given.text
    assert given.json()["correct"] == PAPER


async def test_a_scan_without_an_answer_takes_no_feedback(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
) -> None:
    queued = (await submit(idle, user, photo(96, 64, seed=2))).json()["scan_id"]
    failed = (await submit(idle, user, photo(96, 64, seed=3))).json()["scan_id"]
    await driver.advance(failed, ScanStatus.STORING)
    await driver.fail(failed, "image_corrupt", "The image could not be read.")
    for scan_id in (queued, failed):
        for method in ("PUT", "POST"):
            answer = await idle.request(
                method, feedback_url(scan_id), headers=user, json={"correct": PAPER}
            )
            assert_error(answer, 409, "scan_not_completed")
        assert_error(await idle.get(feedback_url(scan_id), headers=user), 404, "feedback_not_found")
        assert (await idle.get(f"{SCANS}/{scan_id}", headers=user)).json()["feedback"] is None


async def test_feedback_goes_with_its_scan_and_its_owner(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    driver: Driver,
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    first = await completed_scan(idle, user, driver, pipeline_env, seed=4)
    second = await completed_scan(idle, user, driver, pipeline_env, seed=5)
    for scan_id in (first, second):
        given = await idle.put(feedback_url(scan_id), headers=user, json={"correct": PET})
        assert given.status_code == 201
    async with clean_database.begin() as connection:
        await connection.execute(text("DELETE FROM scans WHERE id = :id"), {"id": first})
    assert await count_rows(clean_database, ScanFeedback) == 1
    async with clean_database.begin() as connection:
        await connection.execute(
            text("DELETE FROM users WHERE id = (SELECT user_id FROM scans WHERE id = :id)"),
            {"id": second},
        )
    assert await count_rows(clean_database, ScanFeedback) == 0


async def test_the_openapi_contract_documents_feedback(idle: httpx.AsyncClient) -> None:
    spec = (await idle.get(f"{SCANS}/openapi.json")).json()
    route = spec["paths"][f"{SCANS}/{{scan_id}}/feedback"]
    assert set(route) == {"get", "put", "post"}
    for method in ("put", "post"):
        answers = route[method]["responses"]
        for code in ("200", "201"):
            schema = answers[code]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/FeedbackOut")
        for code in ("401", "404", "409", "422"):
            schema = answers[code]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorBody"), (method, code)
        request = route[method]["requestBody"]["content"]["application/json"]["schema"]
        assert request["$ref"].endswith("/FeedbackIn")
    assert route["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/FeedbackOut")
    scan = spec["components"]["schemas"]["ScanOut"]
    assert "feedback" in scan["required"]
