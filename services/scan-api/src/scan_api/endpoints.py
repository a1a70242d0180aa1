"""The scans API: /api/v1/scans (DESIGN.md section 3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bunri.db.models import Scan, ScanFeedback, ScanStatus
from bunri.scans.ownership import owned_scan
from bunri.scans.views import SCANS_PATH, scan_view
from bunri.web.auth import CurrentUser, SignedCallerDep
from bunri.web.deps import ResourcesDep, SessionDep
from bunri.web.errors import documented_errors
from bunri.web.middleware import add_to_access_log
from bunri.web.openapi import event_stream_response
from bunri.web.pagination import PageRequestDep
from bunri.web.uploads import image_form_body
from scan_api import repository, service
from scan_api.deps import EventHubDep, ObjectStoreDep, ScanServiceDep, ScanSettingsDep
from scan_api.errors import ImageNotStored
from scan_api.events import scan_event_stream
from scan_api.schemas import (
    FeedbackIn,
    FeedbackOut,
    ScanAccepted,
    ScanEventFrame,
    ScanOut,
    ScanPage,
)
from scan_api.uploads import read_upload

router = APIRouter(prefix=SCANS_PATH, tags=["scans"])

_UPLOAD_SCHEMA = image_form_body(note={"type": "string", "maxLength": 500}) | {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "The same key from the same user within 24 h returns the same scan.",
        }
    ],
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ScanAccepted,
    openapi_extra=_UPLOAD_SCHEMA,
    responses=documented_errors(400, 401, 409, 413, 415, 422, 429, 503),
)
async def submit_scan(
    request: Request,
    caller: SignedCallerDep,
    scans: ScanServiceDep,
    settings: ScanSettingsDep,
) -> JSONResponse:
    """Accept a photo; the scan runs in the background. 202 with where to follow it."""
    # The body is parsed while Redis says whether the token was revoked.
    user, upload = await caller.unless_revoked(
        read_upload(
            request,
            max_note_chars=settings.max_note_chars,
            max_image_bytes=settings.max_image_bytes,
        )
    )
    accepted = await scans.accept(
        user_id=user.user_id,
        image=upload.image,
        note=upload.note,
        idempotency_key=upload.idempotency_key,
    )
    add_to_access_log(request.scope, scan_id=str(accepted.scan_id))
    status_url = f"{SCANS_PATH}/{accepted.scan_id}"
    body = ScanAccepted(
        scan_id=accepted.scan_id,
        status=accepted.status,
        status_url=status_url,
        events_url=f"{status_url}/events",
    )
    headers = {"Location": status_url}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


@router.get("", responses=documented_errors(400, 401))
async def list_scans(user: CurrentUser, session: SessionDep, paging: PageRequestDep) -> ScanPage:
    """The caller's scans, newest first. Pass `next_cursor` back as `cursor` for the next page."""
    scans = await repository.list_users_scans(
        session, user.user_id, before=paging.older_than, limit=paging.fetch
    )
    feedback = await repository.feedback_for_scans(
        session,
        [scan.id for scan in scans[: paging.limit] if scan.status is ScanStatus.COMPLETED],
    )
    return paging.page(ScanPage, scans, lambda scan: _scan_out(scan, feedback.get(scan.id)))


@router.get("/{scan_id}", responses=documented_errors(401, 404))
async def get_scan(scan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ScanOut:
    scan = await owned_scan(session, user.user_id, scan_id)
    # Only a completed scan takes feedback: polling a scan in flight costs no second query.
    completed = scan.status is ScanStatus.COMPLETED
    return _scan_out(scan, await repository.get_feedback(session, scan.id) if completed else None)


_FEEDBACK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": FeedbackOut, "description": "The scan's earlier feedback, replaced."},
    201: {"model": FeedbackOut, "description": "The scan's first feedback."},
    **documented_errors(401, 404, 409, 422),
}


@router.put(
    "/{scan_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackOut,
    responses=_FEEDBACK_ANSWERS,
)
@router.post(
    "/{scan_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackOut,
    responses=_FEEDBACK_ANSWERS,
)
async def give_feedback(
    scan_id: uuid.UUID,
    body: FeedbackIn,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
) -> FeedbackOut:
    """Say what a completed scan of yours really shows. One feedback per scan: sending it again
    (PUT or POST, the same) replaces it; 201 the first time, 200 after. The class must be one of
    the taxonomy's (GET /api/v1/guides): `unknown_class` (422) otherwise; a scan not yet
    completed (or failed) is `scan_not_completed` (409); someone else's scan does not exist."""
    given = await service.give_feedback(
        session,
        user_id=user.user_id,
        scan_id=scan_id,
        major=body.correct.major,
        middle=body.correct.middle,
        minor=body.correct.minor,
        note=body.note,
    )
    if not given.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"{SCANS_PATH}/{scan_id}/feedback"
    return FeedbackOut.of(given.feedback)


@router.get("/{scan_id}/feedback", responses=documented_errors(401, 404))
async def get_feedback(scan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> FeedbackOut:
    """The feedback given on a scan of yours; `feedback_not_found` (404) when there is none."""
    return FeedbackOut.of(
        await service.read_feedback(session, user_id=user.user_id, scan_id=scan_id)
    )


@router.get(
    "/{scan_id}/events",
    response_class=StreamingResponse,
    responses={
        200: event_stream_response(
            ScanEventFrame,
            "One event per transition: `id` is the scan's version, `event` its status, `data` "
            "this frame. The stream closes after the terminal one.",
        ),
        **documented_errors(401, 404),
    },
)
async def scan_events(
    scan_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    resources: ResourcesDep,
    hub: EventHubDep,
    settings: ScanSettingsDep,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    resume_after: Annotated[
        int | None, Query(ge=0, description="Last-Event-ID for clients that cannot set headers")
    ] = None,
) -> StreamingResponse:
    scan = await owned_scan(session, user.user_id, scan_id)

    async def reload() -> Scan:
        async with resources.sessionmaker() as fresh:
            current = await fresh.get(Scan, scan_id)
            assert current is not None
            return current

    stream = scan_event_stream(
        scan,
        hub,
        reload,
        last_event_id=last_event_id if last_event_id is not None else (resume_after or 0),
        keepalive_seconds=settings.sse_keepalive_seconds,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{scan_id}/image", responses=documented_errors(401, 404))
async def scan_image(
    scan_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    store: ObjectStoreDep,
    settings: ScanSettingsDep,
) -> Response:
    """The stored photo (re-encoded, without metadata)."""
    scan = await owned_scan(session, user.user_id, scan_id)
    return await _object_response(store, scan.original_key, settings.image_url_ttl_seconds)


@router.get("/{scan_id}/thumbnail", responses=documented_errors(401, 404))
async def scan_thumbnail(
    scan_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    store: ObjectStoreDep,
    settings: ScanSettingsDep,
) -> Response:
    scan = await owned_scan(session, user.user_id, scan_id)
    return await _object_response(store, scan.thumbnail_key, settings.image_url_ttl_seconds)


def _scan_out(scan: Scan, feedback: ScanFeedback | None) -> ScanOut:
    view = scan_view(scan) | {"feedback": None if feedback is None else FeedbackOut.of(feedback)}
    return ScanOut.model_validate(view)


async def _object_response(store: ObjectStoreDep, key: str | None, ttl: int) -> Response:
    if key is None:
        raise ImageNotStored()
    url = store.download_url(key, ttl)
    cache = {"Cache-Control": f"private, max-age={max(ttl - 30, 0)}"}
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers=cache)
    data = await run_in_threadpool(store.get, key)
    media_type = "image/png" if key.endswith(".png") else "image/jpeg"
    return Response(data, media_type=media_type, headers=cache)
