"""The person's own page: /api/v1/my (DESIGN.md section 10)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bunri.web.auth import CurrentUser, SignedCallerDep
from bunri.web.errors import ErrorBody, documented_errors
from bunri.web.uploads import image_form_body, read_image_form
from my_api.deps import AccountServiceDep, MySettingsDep, ObjectStoreDep, ProfileServiceDep
from my_api.errors import InvalidIfMatch, PreconditionRequired
from my_api.export import export_document
from my_api.reports import WeeklyReportOut, weekly_report
from my_api.schemas import AccountDeletion, DeletionAccepted, ProfileOut, ProfilePatch
from my_api.service import MY_PATH, ProfileView
from my_api.stats import Period, StatsOut, read_stats

router = APIRouter(prefix=MY_PATH, tags=["my"])

# One entity tag of an If-Match list: strong, quoted, a version number.
_ENTITY_TAG = re.compile(r'^"(\d{1,18})"$')
_PROFILE_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}

_PROFILE_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ProfileOut,
        "headers": {"ETag": {"description": "The profile's version, quoted", "schema": {}}},
    }
}


def _profile_response(view: ProfileView, status_code: int = 200) -> Response:
    return Response(
        view.body,
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": view.etag, **_PROFILE_HEADERS},
    )


def parse_if_match(header: str | None) -> list[int]:
    """The versions an If-Match header names; 428 without one, 400 for anything but strong
    tags of ours."""
    if header is None:
        raise PreconditionRequired()
    versions = []
    for tag in header.split(","):
        match = _ENTITY_TAG.match(tag.strip())
        if match is None:
            raise InvalidIfMatch()
        versions.append(int(match.group(1)))
    return versions


@router.get(
    "/profile",
    response_class=Response,
    responses={**_PROFILE_ANSWER, 304: {"description": "If-None-Match named this version"}}
    | documented_errors(401),
)
async def read_profile(
    user: CurrentUser,
    profiles: ProfileServiceDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The caller's profile, with its version as the ETag (created with the defaults on first
    read). Send If-None-Match with the ETag to be answered 304 when nothing changed."""
    view = await profiles.read(user.user_id)
    if if_none_match is not None and view.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers={"ETag": view.etag, **_PROFILE_HEADERS})
    return _profile_response(view)


@router.patch(
    "/profile",
    response_class=Response,
    responses={
        **_PROFILE_ANSWER,
        412: {
            "model": ErrorBody,
            "description": "`version_conflict`: the error carries `current`, the profile now, "
            "and the ETag header its version.",
        },
        **documented_errors(400, 401, 422, 428),
    },
)
async def update_profile(
    patch: ProfilePatch,
    user: CurrentUser,
    profiles: ProfileServiceDep,
    if_match: Annotated[
        str | None, Header(description="The ETag of the profile this change was made to.")
    ] = None,
) -> Response:
    """Change the profile as a JSON merge patch (absent fields stay). Needs If-Match: a profile
    changed since (on another device) answers 412 `version_conflict` with the current one."""
    view = await profiles.update(user.user_id, parse_if_match(if_match), patch)
    return _profile_response(view)


@router.post(
    "/profile/photo",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    openapi_extra=image_form_body(),
    responses={202: {"model": ProfileOut}, **documented_errors(400, 401, 413, 415, 422, 503)},
)
async def upload_photo(
    request: Request,
    caller: SignedCallerDep,
    profiles: ProfileServiceDep,
    settings: MySettingsDep,
) -> Response:
    """A new profile photo: 202 with the profile (`photo.status` `processing`); the storage
    worker makes the 512 and 96 px squares, then the status is `ready` (or `failed`, keeping
    the photo there was). Until then the earlier photo stays shown."""
    user, upload = await caller.unless_revoked(
        read_image_form(request, max_image_bytes=settings.max_image_bytes, max_fields=1)
    )
    return _profile_response(await profiles.accept_photo(user.user_id, upload.image), 202)


@router.delete(
    "/profile/photo",
    response_class=Response,
    responses={**_PROFILE_ANSWER, **documented_errors(401, 404)},
)
async def remove_photo(user: CurrentUser, profiles: ProfileServiceDep) -> Response:
    """No photo any more; its stored images are deleted in the background."""
    return _profile_response(await profiles.remove_photo(user.user_id))


@router.get("/profile/photo", responses=documented_errors(401, 404))
async def photo(
    user: CurrentUser,
    profiles: ProfileServiceDep,
    store: ObjectStoreDep,
    settings: MySettingsDep,
) -> Response:
    """The 512 px photo (a redirect to storage, or the image)."""
    key = await profiles.photo_key(user.user_id, thumbnail=False)
    return await _object_response(store, key, settings.photo_url_ttl_seconds)


@router.get("/profile/photo/thumbnail", responses=documented_errors(401, 404))
async def photo_thumbnail(
    user: CurrentUser,
    profiles: ProfileServiceDep,
    store: ObjectStoreDep,
    settings: MySettingsDep,
) -> Response:
    """The 96 px photo."""
    key = await profiles.photo_key(user.user_id, thumbnail=True)
    return await _object_response(store, key, settings.photo_url_ttl_seconds)


async def _object_response(store: ObjectStoreDep, key: str, ttl: int) -> Response:
    cache = {"Cache-Control": f"private, max-age={max(ttl - 30, 0)}"}
    url = store.download_url(key, ttl)
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers=cache)
    return Response(await run_in_threadpool(store.get, key), media_type="image/jpeg", headers=cache)


@router.get("/stats", responses=documented_errors(401, 422))
async def stats(
    user: CurrentUser,
    profiles: ProfileServiceDep,
    period: Annotated[Period, Query(description="Calendar week or month (Asia/Seoul), or all")] = (
        "week"
    ),
) -> StatsOut:
    """What the caller sorted in the period: scans by class, the unsure share, feedback given,
    the current streak of days with a scan, and the period against the one before."""
    async with profiles.engine.connect() as connection:
        return await read_stats(connection, user.user_id, period, now=datetime.now(UTC))


@router.get("/reports/weekly", responses=documented_errors(401, 404, 422))
async def weekly(
    user: CurrentUser,
    profiles: ProfileServiceDep,
    week_start: Annotated[
        date | None, Query(description="Any day of the week; default: the last complete week")
    ] = None,
) -> WeeklyReportOut:
    """The caller's weekly report: the model's words once it has written them, the template's
    until then; `report_not_ready` (404) for a week without one."""
    async with profiles.engine.connect() as connection:
        return await weekly_report(connection, user.user_id, week_start, now=datetime.now(UTC))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON document: account, social_accounts, profile, scans (with "
            "results and feedback), conversations (with messages), chat_batch_questions, "
            "weekly_reports, character.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **documented_errors(401),
    },
)
async def export(
    user: CurrentUser, profiles: ProfileServiceDep, settings: MySettingsDep
) -> StreamingResponse:
    """Everything stored about the caller, streamed as it is read."""
    day = datetime.now(UTC).strftime("%Y%m%d")
    return StreamingResponse(
        export_document(profiles.engine, user.user_id, settings.export_page_rows),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="bunri-export-{day}.json"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        },
    )


@router.delete(
    "/account",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeletionAccepted,
    responses=documented_errors(401, 403, 409, 422, 429, 503),
)
async def delete_account(
    user: CurrentUser,
    accounts: AccountServiceDep,
    body: Annotated[AccountDeletion | None, Body()] = None,
) -> JSONResponse:
    """Delete the caller's account: the password again (or, for an account without one, a
    sign-in within the last 5 minutes). Every token is refused at once; everything stored about
    the person is then erased in the background, and the e-mail can sign up again."""
    await accounts.delete(user, None if body is None else body.password)
    accepted = DeletionAccepted(
        status="erasing",
        message="Your account is deleted; what was stored about you is being erased.",
    )
    return JSONResponse(accepted.model_dump(), status_code=202)
