"""The accept-path check of an upload: size, type, dimensions and completeness, without decoding.

scan-api runs this inside the request, so it must stay in the hundreds of microseconds: it reads
headers and walks segment/chunk headers, never pixels. Pixel-level damage is found later by
`normalize`, in the storage worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from bunri.images.errors import ImageCorrupt, ImageTooLarge, ImageTooManyPixels
from bunri.images.media_types import MediaType, sniff_media_type
from bunri.images.pillow import open_image
from bunri.images.structure import check_structure


@dataclass(frozen=True, slots=True)
class ImageInfo:
    media_type: MediaType
    # As the header states them, before EXIF orientation (HEIF: after its own rotation boxes).
    width: int
    height: int


def inspect_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Accept `data` as an image upload or raise one of the four image errors.

    Raises, in this order: ImageTooLarge (413), UnsupportedMediaType (415), ImageCorrupt (422)
    for a damaged or truncated file, ImageTooManyPixels (422) over `max_pixels`.
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(len(data), max_bytes)
    return inspect_image(data, max_pixels=max_pixels)


# A photo takes at least a few bits a pixel, so a small file that declares a huge canvas is a
# decompression bomb (the pixels cost memory and time in the storage worker), not a photo. Any
# file may declare FREE_PIXELS; beyond that a file needs a byte for every PIXELS_PER_BYTE pixels
# (a 12 MP phone JPEG of 1.5 MB may declare 300 MP; a 35 KB PNG 7 MP, not 36).
FREE_PIXELS = 4_000_000
PIXELS_PER_BYTE = 200


def pixel_budget(size_bytes: int, max_pixels: int) -> int:
    return min(max_pixels, max(FREE_PIXELS, size_bytes * PIXELS_PER_BYTE))


def inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Everything `inspect_upload` checks except the byte cap; `max_pixels` is lowered for a
    small file (`pixel_budget`)."""
    budget = pixel_budget(len(data), max_pixels)
    try:
        return _inspect_image(data, max_pixels=budget)
    except ImageTooManyPixels as exc:
        if budget == max_pixels:
            raise
        raise ImageTooManyPixels(budget, exc.width, exc.height, size_bytes=len(data)) from None


def _inspect_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    media_type = sniff_media_type(data)
    # The structural walk comes before Pillow's header parser, not after it: it bounds the layouts
    # that Pillow would otherwise loop over byte by byte, in Python, for seconds.
    check_structure(data, media_type)
    with open_image(data, media_type, max_pixels=max_pixels) as image:
        width, height = image.size
    check_pixel_budget(width, height, max_pixels)
    return ImageInfo(media_type, width, height)


def check_pixel_budget(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageCorrupt("its header says it has no pixels (zero width or height)")
    if width * height > max_pixels:
        raise ImageTooManyPixels(max_pixels, width, height)
