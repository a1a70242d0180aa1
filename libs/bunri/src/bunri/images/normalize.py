"""Decode an accepted upload and re-encode what Bunri stores: the original, a thumbnail and the
classifier's input, upright, in sRGB and without any of the upload's metadata (GPS included).

CPU-bound (measured for a 12-megapixel JPEG on one core: 0.18 s, 0.45 s when a non-sRGB colour
profile must be converted): the storage worker runs it off its eventlet hub. Memory peaks at
about two or three decoded frames (4 bytes a pixel each), which `max_pixels` bounds; the output is a
function of the input bytes and arguments only.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from PIL import Image, ImageOps

from bunri.images.color import to_srgb
from bunri.images.inspect import inspect_image
from bunri.images.pillow import open_image, pillow_errors
from bunri.images.structure import check_decoding_cost

ORIGINAL_JPEG_QUALITY: Final = 90
DERIVATIVE_JPEG_QUALITY: Final = 85
# JPEG cannot hold a side longer than this; only a PNG upload can have one (1 x 100,000, say).
JPEG_MAX_SIDE: Final = 65_500
_WHITE: Final = 255


@dataclass(frozen=True, slots=True)
class NormalizedImage:
    original: bytes
    original_media_type: Literal["image/jpeg", "image/png"]
    thumbnail: bytes
    thumbnail_media_type: Literal["image/jpeg"]
    # RGB JPEG for the classifier.
    analysis: bytes
    # Of the original, after EXIF orientation.
    width: int
    height: int


def normalize(
    data: bytes, *, max_pixels: int, thumbnail_px: int = 320, analysis_px: int = 384
) -> NormalizedImage:
    """Decode `data` and re-encode it; raises the image errors of `inspect_upload`, and ImageCorrupt
    when the pixel data itself turns out to be damaged.

    The thumbnail and the analysis image fit in a square of `thumbnail_px` / `analysis_px` (longest
    side equal to it, never enlarged, never narrower than one pixel). Animated WebP and APNG keep
    their first frame.
    """
    with upright_image(data, max_pixels=max_pixels) as upright:
        original, original_type = _encode_original(upright)
        thumbnail_image, analysis_image = _derivatives(upright, thumbnail_px, analysis_px)
        thumbnail = encode_jpeg(thumbnail_image)
        analysis = encode_jpeg(analysis_image.convert("RGB"))
        width, height = upright.size
    return NormalizedImage(
        original=original,
        original_media_type=original_type,
        thumbnail=thumbnail,
        thumbnail_media_type="image/jpeg",
        analysis=analysis,
        width=width,
        height=height,
    )


@contextlib.contextmanager
def upright_image(data: bytes, *, max_pixels: int) -> Iterator[Image.Image]:
    """The upload decoded (first frame), turned upright and in sRGB, with none of its metadata."""
    # Never trust the caller: the same checks as the accept path, pixel budget included, before a
    # single pixel is allocated.
    info = inspect_image(data, max_pixels=max_pixels)
    check_decoding_cost(data, info.media_type)
    with open_image(data, info.media_type, max_pixels=max_pixels) as image:
        icc_profile = image.info.get("icc_profile")
        with pillow_errors("its pixel data is damaged or incomplete", max_pixels=max_pixels):
            image.load()  # the first frame only
        _apply_orientation(image)
        with pillow_errors("its colours could not be converted", max_pixels=max_pixels):
            upright = to_srgb(image, icc_profile if isinstance(icc_profile, bytes) else None)
        yield upright


def _apply_orientation(image: Image.Image) -> None:
    """Turn the pixels upright as the EXIF (or XMP) orientation says, in place.

    HEIF needs nothing here: libheif applies the file's rotation boxes and pillow-heif resets the
    EXIF tag to match.
    """
    # Damaged EXIF is damaged metadata, not a damaged image: the pixels are then kept as stored
    # (and the metadata is dropped anyway).
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)


def _encode_original(image: Image.Image) -> tuple[bytes, Literal["image/jpeg", "image/png"]]:
    """JPEG, unless some pixel is transparent or a side is too long for JPEG: then PNG."""
    if image.mode in ("RGBA", "LA") or max(image.size) > JPEG_MAX_SIDE:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue(), "image/png"
    return encode_jpeg(image, ORIGINAL_JPEG_QUALITY), "image/jpeg"


def encode_jpeg(image: Image.Image, quality: int = DERIVATIVE_JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    # Only pixel parameters are passed: no exif, icc_profile, xmp or comment, and `info` is empty.
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def fit_within(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    """`size` scaled down to fit a `longest_side` square, never up, never below 1 pixel a side."""
    width, height = size
    scale = min(1.0, longest_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _derivatives(
    image: Image.Image, thumbnail_px: int, analysis_px: int
) -> tuple[Image.Image, Image.Image]:
    """The thumbnail and the analysis image. Only the larger is resampled from the full image,
    the smaller from it: resampling a megapixel photo costs ~15 ms, a 384 px one ~3 ms."""
    thumbnail_size = fit_within(image.size, thumbnail_px)
    analysis_size = fit_within(image.size, analysis_px)
    if thumbnail_px <= analysis_px:
        analysis = resized_on_white(image, analysis_size)
        return resized_on_white(analysis, thumbnail_size), analysis
    thumbnail = resized_on_white(image, thumbnail_size)
    return thumbnail, resized_on_white(thumbnail, analysis_size)


def resized_on_white(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A copy of `size` without alpha (JPEG has none): resized first, then laid on white."""
    # reducing_gap first shrinks by the largest whole factor with a box filter (area averaging,
    # the trick behind JPEG draft mode) and leaves Lanczos less than 2x: a 1138 x 853 photo to
    # 384 px in 8 ms instead of 16 (all of `normalize` 45 -> 35 ms), 42 dB PSNR from the fair
    # resampling, which is invisible; from 12 megapixels the gain is larger still.
    small = (
        image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)
        if size != image.size
        else image
    )
    if small.mode not in ("RGBA", "LA"):
        return small
    background = Image.new(
        small.mode[:-1], small.size, _WHITE if small.mode == "LA" else (_WHITE,) * 3
    )
    background.paste(small.convert(background.mode), mask=small.getchannel("A"))
    return background
