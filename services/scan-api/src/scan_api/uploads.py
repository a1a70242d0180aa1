"""Reading the multipart upload of POST /api/v1/scans (`bunri.web.uploads`) with its note and
Idempotency-Key; whether the token was revoked is asked at the same time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request

from bunri.web.text import check_text
from bunri.web.uploads import InvalidUpload, read_image_form

# Printable ASCII without spaces, as the IETF draft on Idempotency-Key suggests for keys.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


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
    read = await read_image_form(request, max_image_bytes=max_image_bytes, max_fields=4)
    form = read.form
    note = form.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidUpload("The field 'note' must be text, not a file.")
    if note is not None and len(note) > max_note_chars:
        raise NoteTooLong(f"The note is longer than {max_note_chars} characters.")
    if note is not None:
        check_text(note, field="note", multiline=True)
    return Upload(image=read.image, note=note or None, idempotency_key=key)
