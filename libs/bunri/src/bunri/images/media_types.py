"""The image type of an upload, judged from its first bytes only.

File names and the client's Content-Type are never consulted: both are whatever the sender says.
Only the formats below are ever handed to a decoder, which keeps the attack surface to four parsers.
"""

from __future__ import annotations

from typing import Final, Literal

from bunri.images.errors import UnsupportedMediaType

MediaType = Literal["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"]

# The Pillow plugin that may open each type (Image.open(..., formats=[...])).
PILLOW_FORMAT: Final[dict[MediaType, str]] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
}

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

# HEVC-coded HEIF (what phones write); "mif1"/"msf1" are the generic HEIF brands, which say nothing
# about the codec, so their compatible brands decide between HEIC, AVIF (refused) and plain HEIF.
_HEIC_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
)
_GENERIC_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})

# Recognised only to tell the sender what they sent.
_LOOKS_LIKE: Final = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
)


def sniff_media_type(data: bytes) -> MediaType:
    """The accepted type whose signature `data` starts with; UnsupportedMediaType for the rest."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return _heif_type(data)
    raise UnsupportedMediaType(_looks_like(data))


def _heif_type(data: bytes) -> MediaType:
    major = data[8:12]
    box_size = int.from_bytes(data[:4], "big")
    # Compatible brands follow the major brand and minor version; clamp to the data so a lying box
    # size cannot make us read past the end (a short slice simply yields fewer brands).
    compatible_end = min(max(box_size, 16), len(data), 16 + 4 * 64)
    compatible = {data[i : i + 4] for i in range(16, compatible_end - 3, 4)}
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _GENERIC_HEIF_BRANDS:
        if compatible & _HEIC_BRANDS:
            return "image/heic"
        if compatible & _AVIF_BRANDS:
            raise UnsupportedMediaType("an AVIF image")
        return "image/heif"
    if major in _AVIF_BRANDS:
        raise UnsupportedMediaType("an AVIF image")
    raise UnsupportedMediaType("an ISO media file (a video or another non-photo format)")


def _looks_like(data: bytes) -> str | None:
    if not data:
        return "empty"
    for signature, name in _LOOKS_LIKE:
        if data.startswith(signature):
            return name
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        return "an SVG or XML document"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML document"
    return None
