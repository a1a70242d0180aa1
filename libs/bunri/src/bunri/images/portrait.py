"""A profile photo as Bunri stores it: the upload upright, without metadata (GPS included),
cropped to its centre square and encoded as JPEG at each size asked for."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from bunri.images.normalize import encode_jpeg, resized_on_white, upright_image

PORTRAIT_SIZES = (512, 96)


def square_portraits(
    data: bytes, *, max_pixels: int, sizes: Sequence[int] = PORTRAIT_SIZES
) -> dict[int, bytes]:
    """JPEG squares of `sizes` px a side (a smaller photo is enlarged to fill them); raises the
    image errors of `inspect_upload` and ImageCorrupt."""
    with upright_image(data, max_pixels=max_pixels) as upright:
        width, height = upright.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        square = upright.crop((left, top, left + side, top + side))
        portraits = {}
        # Each size from the next larger one: resampling the full photo once is the cost.
        source: Image.Image = square
        for size in sorted(sizes, reverse=True):
            source = resized_on_white(source, (size, size))
            portraits[size] = encode_jpeg(source.convert("RGB"))
    return portraits
