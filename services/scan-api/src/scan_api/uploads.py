"""Reading the multipart upload of POST /api/v1/scans, once the caller's token is known to be
signed by us (FastAPI would parse a declared form body before running the auth dependency);
whether it was revoked is asked at the same time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from bunri.errors import BunriError

# Printable ASCII without spaces, as the IETF draft on Idempotency-Key suggests for keys.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class InvalidUpload(BunriError):
    code = "invalid_upload"
    message = "Send the photo as multipart/form-data with the file in the field 'image'."


class NotMultipart(InvalidUpload):
    status_code = 415
    code = "unsupported_media_type"


class ImageMissing(InvalidUpload):
    status_code = 422
    code = "image_missing"
    message = "The form has no file in the field 'image'."


class NoteTooLong(InvalidUpload):
    status_code = 422
    code = "note_too_long"


class InvalidIdempotencyKey(InvalidUpload):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces."


@dataclass(frozen=True, slots=True)
class Upload:
    image: bytes
    note: str | None
    idempotency_key: str | None


async def read_upload(request: Request, *, max_note_chars: int, max_image_bytes: int) -> Upload:
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise InvalidIdempotencyKey()
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NotMultipart(
            f"Expected multipart/form-data, got {content_type or 'no content type'}."
        )
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=max_image_bytes + 1)
    except (MultiPartException, HTTPException) as exc:
        # Within an application Starlette turns the parser's MultiPartException into a plain
        # HTTPException(400), which would answer the generic `bad_request`.
        reason = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        raise InvalidUpload(f"The multipart body could not be read: {reason.rstrip('.')}.") from exc
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise ImageMissing()
    note = form.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidUpload("The field 'note' must be text, not a file.")
    if note is not None and len(note) > max_note_chars:
        raise NoteTooLong(f"The note is longer than {max_note_chars} characters.")
    return Upload(image=await image.read(), note=note or None, idempotency_key=key)
