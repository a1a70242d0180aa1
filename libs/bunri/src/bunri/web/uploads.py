"""Reading a photo sent as multipart/form-data (a scan, a profile photo), once the caller's token
is known to be signed by us: FastAPI would parse a declared form body before running the auth
dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from bunri.errors import BunriError


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


@dataclass(frozen=True, slots=True)
class ImageForm:
    image: bytes
    # The form's other fields, for the caller to read.
    form: FormData


async def read_image_form(request: Request, *, max_image_bytes: int, max_fields: int) -> ImageForm:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NotMultipart(
            f"Expected multipart/form-data, got {content_type or 'no content type'}."
        )
    try:
        form = await request.form(
            max_files=1, max_fields=max_fields, max_part_size=max_image_bytes + 1
        )
    except (MultiPartException, HTTPException) as exc:
        # Within an application Starlette turns the parser's MultiPartException into a plain
        # HTTPException(400), which would answer the generic `bad_request`.
        reason = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        raise InvalidUpload(f"The multipart body could not be read: {reason.rstrip('.')}.") from exc
    image = form.get("image")
    if not isinstance(image, UploadFile):
        raise ImageMissing()
    return ImageForm(image=await image.read(), form=form)


def image_form_body(**more_fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of such a form (a route's `openapi_extra`): the file `image`,
    and `more_fields` (name: JSON schema)."""
    image = {
        "type": "string",
        "format": "binary",
        "description": "JPEG, PNG, WebP or HEIC/HEIF, at most 10 MiB",
    }
    schema = {"type": "object", "required": ["image"], "properties": {"image": image} | more_fields}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }
