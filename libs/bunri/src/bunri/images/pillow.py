"""Opening uploads with Pillow: one format per call, and the one place where Pillow's exceptions
become ours.

Pillow signals bad input with a zoo of exception types (SyntaxError, struct.error, ValueError,
OSError, EOFError, IndexError, ...) that changes between versions and plugins; for hostile bytes any
of them means "not a readable image", so the translation is deliberately broad.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager

import pillow_heif
from PIL import Image

from bunri.images.errors import ImageCorrupt, ImageError, ImageTooManyPixels
from bunri.images.media_types import PILLOW_FORMAT, MediaType


@functools.cache
def _register_heif() -> None:
    # Registered once, on first use: pillow-heif adds its plugin to Pillow's global registry. Depth
    # maps, auxiliary images and embedded thumbnails are never used here, so libheif skips them.
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


@contextmanager
def pillow_errors(reason: str, *, max_pixels: int) -> Iterator[None]:
    """Turn whatever Pillow raises inside the block into ImageCorrupt(reason) or ImageTooManyPixels.

    Pillow's own bomb check (Image.MAX_IMAGE_PIXELS, about 89 megapixels; an error at twice that,
    a warning above it that test suites turn into an error) can fire before ours sees the size.
    """
    try:
        yield
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixels(max_pixels) from exc
    except Exception as exc:
        raise ImageCorrupt(reason) from exc


@contextmanager
def open_image(data: bytes, media_type: MediaType, *, max_pixels: int) -> Iterator[Image.Image]:
    """The image's header parsed by the plugin of `media_type` only; pixels are not decoded yet."""
    if PILLOW_FORMAT[media_type] == "HEIF":
        _register_heif()
    with pillow_errors("its header is damaged", max_pixels=max_pixels):
        image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMAT[media_type]])
    with image:
        yield image
