"""The pure image code of the scan pipeline (DESIGN.md section 3).

`inspect_upload` is scan-api's accept-path check (header only, no pixel decode); `normalize` is the
storage worker's decode, orient, strip-metadata and re-encode step. Both raise only the four image
errors for bad input.
"""

from bunri.images.errors import (
    ImageCorrupt,
    ImageError,
    ImageTooLarge,
    ImageTooManyPixels,
    UnsupportedMediaType,
)
from bunri.images.inspect import ImageInfo, inspect_image, inspect_upload
from bunri.images.media_types import MediaType, sniff_media_type
from bunri.images.normalize import NormalizedImage, normalize
from bunri.images.portrait import PORTRAIT_SIZES, square_portraits

__all__ = [
    "PORTRAIT_SIZES",
    "ImageCorrupt",
    "ImageError",
    "ImageInfo",
    "ImageTooLarge",
    "ImageTooManyPixels",
    "MediaType",
    "NormalizedImage",
    "UnsupportedMediaType",
    "inspect_image",
    "inspect_upload",
    "normalize",
    "sniff_media_type",
    "square_portraits",
]
