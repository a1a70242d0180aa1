"""Photos the tests make: content that survives JPEG round trips and has a known orientation."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(
    width: int = 640,
    height: int = 480,
    *,
    seed: int = 7,
    quality: int = 90,
    exif: Image.Exif | None = None,
) -> bytes:
    """A JPEG with texture (so it compresses like a photo) and a red block in its top-left."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (200, 200, 190))
    draw = ImageDraw.Draw(image)
    for _ in range(width * height // 400):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + rng.randrange(4, 30), y + rng.randrange(4, 30)), fill=colour)
    draw.rectangle((0, 0, width // 4, height // 4), fill=(230, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, exif=exif or Image.Exif())
    return buffer.getvalue()


def photo_of_size(target_bytes: int) -> bytes:
    """A JPEG of about `target_bytes` (within 10 %)."""
    width = 640
    while True:
        data = photo(width, width * 3 // 4, quality=92)
        if len(data) >= target_bytes * 0.9:
            return data
        width = int(width * (target_bytes / len(data)) ** 0.5) + 16


def gps_photo(orientation: int = 6) -> bytes:
    """A photo taken turned, with the camera's GPS position and more in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "BunriCam"
    exif[0x0110] = "bunri-secret-camera"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {
        1: "N",
        2: (37.0, 33.0, 31.337),
        3: "E",
        4: (126.0, 58.0, 42.4242),
        29: "2024:05:01",
    }
    data = photo(640, 480, exif=exif)
    sent = Image.open(io.BytesIO(data)).getexif()
    assert sent.get_ifd(GPS_IFD)[2] == (37.0, 33.0, 31.337)  # the upload really carries it
    return data
