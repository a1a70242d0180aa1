"""The scans API: /api/v1/scans (DESIGN.md section 3)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bunri.auth import CurrentUser, SignedCallerDep
from bunri.db.models import Scan
from bunri.scans.views import SCANS_PATH, scan_view
from bunri.web.deps import ResourcesDep, SessionDep
from bunri.web.errors import documented_errors
from bunri.web.middleware import add_to_access_log
from scan_api import repository
from scan_api.deps import EventHubDep, ObjectStoreDep, ScanServiceDep, ScanSettingsDep
from scan_api.errors import ImageNotStored, InvalidCursor, ScanNotFound
from scan_api.events import scan_event_stream
from scan_api.schemas import ScanAccepted, ScanOut, ScanPage
from scan_api.uploads import read_upload

router = APIRouter(prefix=SCANS_PATH, tags=["scans"])

_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "JPEG, PNG, WebP or HEIC/HEIF, at most 10 MiB",
                        },
                        "note": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    },
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
    responses=documented_errors(400, 401, 409, 413, 415, 422, 503),
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
async def list_scans(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> ScanPage:
    """The caller's scans, newest first. Pass `next_cursor` back as `cursor` for the next page."""
    scans = await repository.list_users_scans(
        session, user.user_id, before=_decode_cursor(cursor), limit=limit + 1
    )
    page, more = scans[:limit], len(scans) > limit
    return ScanPage(
        items=[ScanOut.model_validate(scan_view(scan)) for scan in page],
        next_cursor=_encode_cursor(page[-1].id) if more else None,
    )


@router.get("/{scan_id}", responses=documented_errors(401, 404))
async def get_scan(scan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ScanOut:
    return ScanOut.model_validate(scan_view(await _owned(session, user.user_id, scan_id)))


@router.get(
    "/{scan_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "One event per transition; closes after the terminal one.",
        },
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
    scan = await _owned(session, user.user_id, scan_id)

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
    scan = await _owned(session, user.user_id, scan_id)
    return await _object_response(store, scan.original_key, settings.image_url_ttl_seconds)


@router.get("/{scan_id}/thumbnail", responses=documented_errors(401, 404))
async def scan_thumbnail(
    scan_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    store: ObjectStoreDep,
    settings: ScanSettingsDep,
) -> Response:
    scan = await _owned(session, user.user_id, scan_id)
    return await _object_response(store, scan.thumbnail_key, settings.image_url_ttl_seconds)


async def _owned(session: SessionDep, user_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    """The scan if it is the caller's; someone else's scan does not exist (404, not 403)."""
    scan = await repository.get_users_scan(session, user_id, scan_id)
    if scan is None:
        raise ScanNotFound()
    return scan


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


def _encode_cursor(scan_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(scan_id.bytes).rstrip(b"=").decode()


def _decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
