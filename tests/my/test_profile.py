"""The profile at /api/v1/my/profile against the real PostgreSQL, Redis and RabbitMQ: the defaults
of a first read, conditional GET, PATCH as a merge patch guarded by If-Match (428, 400, 412),
what a patch may not say (each a specific 4xx, the profile untouched), and devices writing at
once over real HTTP without losing an update."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

PROFILE = "/api/v1/my/profile"
OPENAPI = "/api/v1/my/openapi.json"


async def read(my: httpx.AsyncClient, user: dict[str, str]) -> httpx.Response:
    response = await my.get(PROFILE, headers=user)
    assert response.status_code == 200, response.text
    return response


async def patch(
    my: httpx.AsyncClient, user: dict[str, str], body: Any, if_match: str | None = '"1"'
) -> httpx.Response:
    headers = dict(user)
    if if_match is not None:
        headers["If-Match"] = if_match
    return await my.patch(PROFILE, headers=headers, json=body)


def error_code(response: httpx.Response) -> str:
    """The error's code, once the body is checked to be exactly the error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str), body
    assert isinstance(body["error"]["message"], str), body
    assert body["error"]["message"], body
    code: str = body["error"]["code"]
    return code


# GET ---------------------------------------------------------------------------------------


async def test_reading_needs_a_token(my: httpx.AsyncClient) -> None:
    response = await my.get(PROFILE)
    assert response.status_code == 401, response.text
    assert error_code(response) == "token_missing"

    bogus = await my.get(PROFILE, headers={"Authorization": "Bearer not-a-token"})
    assert bogus.status_code == 401, bogus.text
    error_code(bogus)


async def test_the_first_read_makes_the_profile_with_the_defaults(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    response = await read(my, user)
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Cache-Control"] == "private, no-cache"
    profile = response.json()
    assert profile["version"] == 1
    assert profile["nickname"] == "n"  # the sign-up's
    assert profile["email"].endswith("@example.com")
    assert profile["language"] == "ko"
    assert profile["region"] is None
    assert profile["notifications"] == {
        "weekly_report": True,
        "character": True,
        "marketing": False,
    }
    assert profile["photo"] == {"status": "none", "url": None, "thumbnail_url": None, "error": None}

    again = await read(my, user)
    assert again.json() == profile
    assert again.headers["ETag"] == '"1"'


async def test_if_none_match_with_the_etag_answers_304(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    etag = (await read(my, user)).headers["ETag"]

    unchanged = await my.get(PROFILE, headers=user | {"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag

    listed = await my.get(PROFILE, headers=user | {"If-None-Match": f'"7", {etag}'})
    assert listed.status_code == 304

    other = await my.get(PROFILE, headers=user | {"If-None-Match": '"7"'})
    assert other.status_code == 200
    assert other.json()["version"] == 1

    assert (await patch(my, user, {"language": "en"}, etag)).status_code == 200
    changed = await my.get(PROFILE, headers=user | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["language"] == "en"


async def test_openapi_documents_the_profile_and_its_preconditions(my: httpx.AsyncClient) -> None:
    response = await my.get(OPENAPI)
    assert response.status_code == 200, response.text
    path = response.json()["paths"][PROFILE]

    get_answers = path["get"]["responses"]
    assert {"200", "304", "401"} <= set(get_answers)
    assert "ETag" in get_answers["200"]["headers"]

    patch_doc = path["patch"]
    answers = patch_doc["responses"]
    assert {"200", "400", "401", "412", "422", "428"} <= set(answers)
    assert "version_conflict" in answers["412"]["description"]
    assert "ETag" in answers["200"]["headers"]
    headers = {p["name"].lower() for p in patch_doc["parameters"] if p["in"] == "header"}
    assert "if-match" in headers
    assert "requestBody" in patch_doc


# PATCH: preconditions ----------------------------------------------------------------------


async def test_a_patch_without_if_match_is_428(my: httpx.AsyncClient, user: dict[str, str]) -> None:
    await read(my, user)
    response = await patch(my, user, {"language": "en"}, if_match=None)
    assert response.status_code == 428, response.text
    assert error_code(response) == "precondition_required"
    assert (await read(my, user)).json()["version"] == 1


@pytest.mark.parametrize("if_match", ["1", 'W/"1"', "*", '"abc"', "", '"1", W/"1"', "'1'", '"-1"'])
async def test_a_malformed_if_match_is_400(
    my: httpx.AsyncClient, user: dict[str, str], if_match: str
) -> None:
    await read(my, user)
    response = await patch(my, user, {"language": "en"}, if_match)
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_if_match"
    assert (await read(my, user)).json()["language"] == "ko"


async def test_a_stale_version_is_412_with_the_current_profile(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    await read(my, user)
    first = await patch(my, user, {"language": "en"}, '"1"')
    assert first.status_code == 200, first.text

    stale = await patch(my, user, {"nickname": "late"}, '"1"')
    assert stale.status_code == 412, stale.text
    assert stale.headers["ETag"] == '"2"'
    error = stale.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["message"]
    assert error["current"] == first.json()
    assert error["current"]["version"] == 2

    future = await patch(my, user, {"nickname": "early"}, '"3"')
    assert future.status_code == 412, future.text
    assert future.json()["error"]["current"]["version"] == 2

    now = await read(my, user)
    assert now.json() == first.json()
    assert now.json()["nickname"] == "n"


async def test_a_version_too_large_for_the_database_is_a_conflict_not_a_crash(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    """If-Match accepts up to 18 digits; a version no profile can have matches none (412)."""
    await read(my, user)
    for huge in ('"2147483648"', '"999999999999999999"', '"1", "99999999999"'):
        response = await patch(my, user, {"language": "en"}, huge)
        if huge.startswith('"1"'):
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 412, response.text
            assert response.json()["error"]["code"] == "version_conflict"


async def test_an_if_match_list_naming_the_current_version_applies(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    await read(my, user)
    response = await patch(my, user, {"language": "en"}, '"5", "1"')
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["version"] == 2


async def test_a_patch_answers_the_new_profile_and_a_read_shows_it(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    before = (await read(my, user)).json()
    response = await patch(
        my,
        user,
        {
            "nickname": "분리수거왕",
            "region": {"province": "11", "district": "11680"},
            "language": "en",
            "notifications": {"marketing": True},
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.headers["Cache-Control"] == "private, no-cache"
    profile = response.json()
    assert profile["version"] == 2
    assert profile["nickname"] == "분리수거왕"
    assert profile["region"] == {
        "province": {"code": "11", "name": "서울특별시", "name_en": "Seoul"},
        "district": {"code": "11680", "name": "강남구", "name_en": "Gangnam-gu"},
    }
    assert profile["language"] == "en"
    assert profile["notifications"] == {"weekly_report": True, "character": True, "marketing": True}
    assert profile["updated_at"] >= before["updated_at"]
    assert profile["user_id"] == before["user_id"]
    assert profile["email"] == before["email"]

    shown = await read(my, user)
    assert shown.headers["ETag"] == '"2"'
    assert shown.json() == profile


async def test_a_patch_is_a_merge_patch(my: httpx.AsyncClient, user: dict[str, str]) -> None:
    await read(my, user)
    set_all = await patch(
        my,
        user,
        {
            "nickname": "하나",
            "region": {"province": "26", "district": "26440"},
            "language": "en",
            "notifications": {"weekly_report": False, "character": False, "marketing": True},
        },
        '"1"',
    )
    assert set_all.status_code == 200, set_all.text

    only_language = await patch(my, user, {"language": "ko"}, '"2"')
    assert only_language.status_code == 200, only_language.text
    profile = only_language.json()
    assert profile["language"] == "ko"
    assert profile["nickname"] == "하나"
    assert profile["region"]["district"]["code"] == "26440"
    assert profile["notifications"] == {
        "weekly_report": False,
        "character": False,
        "marketing": True,
    }

    one_notification = await patch(my, user, {"notifications": {"character": True}}, '"3"')
    assert one_notification.status_code == 200, one_notification.text
    assert one_notification.json()["notifications"] == {
        "weekly_report": False,
        "character": True,
        "marketing": True,
    }

    province_only = await patch(my, user, {"region": {"province": "36"}}, '"4"')
    assert province_only.status_code == 200, province_only.text
    assert province_only.json()["region"] == {
        "province": {"code": "36", "name": "세종특별자치시", "name_en": "Sejong"},
        "district": None,
    }

    cleared = await patch(my, user, {"region": None}, '"5"')
    assert cleared.status_code == 200, cleared.text
    profile = cleared.json()
    assert profile["region"] is None
    assert profile["version"] == 6
    assert profile["nickname"] == "하나"
    assert profile["language"] == "ko"
    assert profile["notifications"]["character"] is True

    assert (await read(my, user)).json() == profile


async def test_the_nickname_is_stored_nfc_and_trimmed_and_is_the_accounts_nickname(
    my: httpx.AsyncClient, user: dict[str, str], auth_url: str
) -> None:
    await read(my, user)
    decomposed = "  \u1112\u1161\u11ab\u1100\u1173\u11af Cafe\u0301\t "  # 한글 Café, as NFD
    response = await patch(my, user, {"nickname": decomposed})
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == "한글 Café"
    assert (await read(my, user)).json()["nickname"] == "한글 Café"

    async with httpx.AsyncClient(base_url=auth_url) as auth:
        me = await auth.get("/api/v1/auth/me", headers=user)
    assert me.status_code == 200, me.text
    assert me.json()["nickname"] == "한글 Café"


async def test_a_nickname_of_fifty_characters_is_taken(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    await read(my, user)
    name = "가" * 50
    response = await patch(my, user, {"nickname": f"  {name}  "})
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == name


# PATCH: what a patch may not say -----------------------------------------------------------

BAD_PATCHES: list[tuple[str, Any, int, str]] = [
    ("unknown field", {"nickname": "x", "avatar": "y"}, 422, "validation_error"),
    ("unknown notification", {"notifications": {"sms": True}}, 422, "validation_error"),
    ("unknown region field", {"region": {"province": "11", "city": "x"}}, 422, "validation_error"),
    ("nickname a number", {"nickname": 5}, 422, "validation_error"),
    ("language a boolean", {"language": True}, 422, "validation_error"),
    ("marketing a string", {"notifications": {"marketing": "yes"}}, 422, "validation_error"),
    ("marketing a number", {"notifications": {"marketing": 1}}, 422, "validation_error"),
    ("province a number", {"region": {"province": 11}}, 422, "validation_error"),
    ("region a string", {"region": "11"}, 422, "validation_error"),
    ("body a list", [{"nickname": "x"}], 422, "validation_error"),
    ("body a string", "nickname", 422, "validation_error"),
    ("empty nickname", {"nickname": ""}, 422, "invalid_nickname"),
    ("whitespace nickname", {"nickname": "   \t "}, 422, "invalid_nickname"),
    ("51 characters", {"nickname": "가" * 51}, 422, "invalid_nickname"),
    ("201 characters", {"nickname": "a" * 201}, 422, "validation_error"),
    ("zero-width spaces", {"nickname": "\u200b\u200b"}, 422, "invalid_nickname"),
    ("hangul filler", {"nickname": "\u3164"}, 422, "invalid_nickname"),
    ("hangul fillers and spaces", {"nickname": " \u3164\u115f\u1160 "}, 422, "invalid_nickname"),
    ("combining marks only", {"nickname": "\u0301\u0308"}, 422, "invalid_nickname"),
    ("line break", {"nickname": "a\nb"}, 422, "invalid_text"),
    ("tab", {"nickname": "a\tb"}, 422, "invalid_text"),
    ("NUL", {"nickname": "a\u0000b"}, 422, "invalid_text"),
    ("bidi override", {"nickname": "\u202eabc"}, 422, "invalid_text"),
    ("bidi isolate", {"nickname": "abc\u2067def"}, 422, "invalid_text"),
    # Control characters are refused at the boundary, as in every text field (bunri.web.text).
    ("NUL in a province", {"region": {"province": "1\u0000"}}, 422, "invalid_text"),
    (
        "escape in a district",
        {"region": {"province": "11", "district": "11\u001b80"}},
        422,
        "invalid_text",
    ),
    ("nickname null", {"nickname": None}, 422, "not_nullable"),
    ("unknown province", {"region": {"province": "99"}}, 422, "unknown_region"),
    (
        "unknown district",
        {"region": {"province": "11", "district": "11999"}},
        422,
        "unknown_region",
    ),
    (
        "district of another province",
        {"region": {"province": "11", "district": "26440"}},
        422,
        "unknown_region",
    ),
    ("province of 3 digits", {"region": {"province": "111"}}, 422, "validation_error"),
    ("language fr", {"language": "fr"}, 422, "validation_error"),
    ("empty patch", {}, 422, "nothing_to_change"),
    ("language null", {"language": None}, 422, "not_nullable"),
    ("notifications null", {"notifications": None}, 422, "not_nullable"),
    ("a notification null", {"notifications": {"marketing": None}}, 422, "not_nullable"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [pytest.param(body, status, code, id=name) for name, body, status, code in BAD_PATCHES],
)
async def test_a_bad_patch_is_refused_and_changes_nothing(
    my: httpx.AsyncClient, user: dict[str, str], body: Any, status: int, code: str
) -> None:
    before = await read(my, user)
    response = await patch(my, user, body, before.headers["ETag"])
    assert response.status_code == status, response.text
    assert error_code(response) == code

    after = await read(my, user)
    assert after.headers["ETag"] == '"1"'
    assert after.json() == before.json()


@pytest.mark.parametrize(
    "content",
    [b'{"nickname": "x"', b"nickname=x", b"\xff\xfe", b'{"nickname": "x"} trailing'],
    ids=["truncated", "form", "not utf-8", "trailing"],
)
async def test_a_body_that_is_not_json_is_400(
    my: httpx.AsyncClient, user: dict[str, str], content: bytes
) -> None:
    before = await read(my, user)
    response = await my.patch(
        PROFILE,
        headers=user | {"If-Match": '"1"', "Content-Type": "application/json"},
        content=content,
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == "malformed_json"
    assert (await read(my, user)).json() == before.json()


async def test_a_patch_without_a_token_is_401(my: httpx.AsyncClient, user: dict[str, str]) -> None:
    await read(my, user)
    response = await my.patch(PROFILE, headers={"If-Match": '"1"'}, json={"language": "en"})
    assert response.status_code == 401, response.text
    error_code(response)
    assert (await read(my, user)).json()["language"] == "ko"


# Several devices at once, over real HTTP -----------------------------------------------------


async def test_two_devices_writing_the_same_version_one_wins_one_is_told(
    my_url: str, user: dict[str, str]
) -> None:
    async with (
        httpx.AsyncClient(base_url=my_url, timeout=30) as phone,
        httpx.AsyncClient(base_url=my_url, timeout=30) as tablet,
    ):
        await read(phone, user)
        to_phone = {"nickname": "phone", "language": "en"}
        to_tablet = {"nickname": "tablet", "notifications": {"marketing": True}}
        answers = await asyncio.gather(
            patch(phone, user, to_phone, '"1"'), patch(tablet, user, to_tablet, '"1"')
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 412], [answer.text for answer in answers]
        won = next(answer for answer in answers if answer.status_code == 200)
        lost = next(answer for answer in answers if answer.status_code == 412)
        assert won.headers["ETag"] == '"2"'
        assert lost.headers["ETag"] == '"2"'
        assert lost.json()["error"]["code"] == "version_conflict"
        assert lost.json()["error"]["current"] == won.json()

        final = await read(tablet, user)
        assert final.json() == won.json()
        if won.json()["nickname"] == "phone":
            assert final.json()["language"] == "en"
            assert final.json()["notifications"]["marketing"] is False
        else:
            assert final.json()["language"] == "ko"
            assert final.json()["notifications"]["marketing"] is True


CLIENTS = 10


def client_change(index: int) -> dict[str, Any]:
    """What client `index` wants: each its own field, or its own nickname."""
    own: list[dict[str, Any]] = [
        {"notifications": {"weekly_report": False}},
        {"notifications": {"character": False}},
        {"notifications": {"marketing": True}},
        {"language": "en"},
        {"region": {"province": "41", "district": "41110"}},
    ]
    return own[index] if index < len(own) else {"nickname": f"client-{index}"}


async def write_until_taken(
    url: str, user: dict[str, str], index: int
) -> tuple[httpx.Response, int]:
    """Patch with the version last seen; on 412 take the version from the conflict (its ETag
    and `current`) and send the same change again. The 200, and the 412s it took."""
    conflicts = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        etag = (await read(client, user)).headers["ETag"]
        while True:
            response = await patch(client, user, client_change(index), etag)
            if response.status_code == 200:
                return response, conflicts
            assert response.status_code == 412, response.text
            error = response.json()["error"]
            assert error["code"] == "version_conflict"
            assert response.headers["ETag"] == f'"{error["current"]["version"]}"'
            etag = response.headers["ETag"]
            conflicts += 1
            assert conflicts < 100, "never got through"


async def test_concurrent_writers_retrying_on_412_lose_no_update(
    my_url: str, user: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=my_url, timeout=30) as client:
        await read(client, user)
    results = await asyncio.gather(
        *(write_until_taken(my_url, user, index) for index in range(CLIENTS))
    )

    versions = sorted(response.json()["version"] for response, _ in results)
    assert versions == list(range(2, CLIENTS + 2)), versions
    assert sum(conflicts for _, conflicts in results) > 0, "the writers never met"
    for index, (response, _) in enumerate(results):
        assert response.headers["ETag"] == f'"{response.json()["version"]}"'
        change = client_change(index)
        if "nickname" in change:
            assert response.json()["nickname"] == change["nickname"]

    async with httpx.AsyncClient(base_url=my_url, timeout=30) as client:
        final = (await read(client, user)).json()
    assert final["version"] == 1 + CLIENTS
    assert final["notifications"] == {"weekly_report": False, "character": False, "marketing": True}
    assert final["language"] == "en"
    assert final["region"]["district"]["code"] == "41110"
    nickname_writes = [
        (response.json()["version"], client_change(index)["nickname"])
        for index, (response, _) in enumerate(results)
        if "nickname" in client_change(index)
    ]
    assert final["nickname"] == max(nickname_writes)[1]
