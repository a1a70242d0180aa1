"""The four ways an uploaded image is refused (DESIGN.md section 8): too big, not an image we
accept, unreadable, too many pixels. Nothing else leaves the image code for bad input."""

from __future__ import annotations

from bunri.errors import BunriError

ACCEPTED = "JPEG, PNG, WebP or HEIC/HEIF"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} megapixels"


class ImageError(BunriError):
    """Any refusal of an uploaded image; the subclasses carry the status and code."""


class ImageTooLarge(ImageError):
    status_code = 413
    code = "image_too_large"
    message = "The image file is too large."

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(
            f"The image file is {_mib(size)}; files of up to {_mib(max_bytes)} are accepted. "
            "Send a smaller photo."
        )
        self.size = size
        self.max_bytes = max_bytes


class UnsupportedMediaType(ImageError):
    status_code = 415
    code = "unsupported_media_type"
    message = f"The file is not an image we accept; send a {ACCEPTED} photo."

    def __init__(self, looks_like: str | None = None) -> None:
        # Saying what the file looks like ("a GIF image", "an empty file") helps more than a generic
        # refusal; the type is always judged from the bytes, never from the name or Content-Type.
        what = f"The file is {looks_like}" if looks_like else "The file is not an image we know"
        super().__init__(f"{what}; send a {ACCEPTED} photo.")
        self.looks_like = looks_like


class ImageCorrupt(ImageError):
    status_code = 422
    code = "image_corrupt"
    message = f"The image could not be read; send the photo again as a {ACCEPTED} file."

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The image could not be read: {reason}. Send the photo again as a {ACCEPTED} file."
        )
        self.reason = reason


class ImageTooManyPixels(ImageError):
    status_code = 422
    code = "image_too_many_pixels"
    message = "The image has more pixels than we accept; send a smaller photo."

    def __init__(
        self,
        max_pixels: int,
        width: int | None = None,
        height: int | None = None,
        *,
        size_bytes: int | None = None,
    ):
        if width is not None and height is not None:
            what = f"The image is {width}x{height} pixels ({_megapixels(width * height)})"
        else:
            what = "The image has more pixels than we accept"
        if size_bytes is not None:
            what += (
                f" in a file of only {size_bytes:,} bytes, which a photo cannot be; a file "
                f"this size is accepted with up to {_megapixels(max_pixels)}"
            )
        else:
            what += f"; images of up to {_megapixels(max_pixels)} are accepted"
        super().__init__(f"{what}. Send a smaller photo or a lower-resolution copy.")
        self.max_pixels = max_pixels
        self.width = width
        self.height = height
