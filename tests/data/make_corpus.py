"""A corpus of hostile and odd image uploads, generated at test time (no binary file is committed).

`make_corpus(directory)` writes every file and returns what `inspect_upload` and `normalize` must do
with it, judged against `MAX_BYTES` and `MAX_PIXELS`:

- `Refused(status, code)`: `inspect_upload` raises that error.
- `Accepted(...)`: `inspect_upload` answers `media_type`, and `normalize` produces the described
  output (size after orientation, stored format and mode, colours at given points, markers).
- `AcceptedThenCorrupt(media_type)`: the header and structure pass the accept path, but decoding
  fails, so `normalize` raises ImageCorrupt.

File names are part of the attack: several lie about their type (`png-named.jpg`, `text.jpg`).
Run `python -m tests.data.make_corpus DIR` to look at the files.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pillow_heif
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageStat

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000

RED = (220, 20, 20)
BLUE = (20, 20, 220)
GREY = (128, 128, 128)
WHITE = (255, 255, 255)

# Values that must not survive normalisation anywhere in the output bytes.
GPS_LATITUDE = (37.0, 33.0, 31.337)
GPS_LONGITUDE = (126.0, 58.0, 42.4242)
SECRETS = (
    b"Exif\x00\x00",
    b"http://ns.adobe.com/xap",
    b"Photoshop 3.0",
    b"bunri-secret-comment",
    b"bunri-secret-xmp-location",
    b"bunri-secret-iptc-city",
    b"37,33.52228N",
    b"ICC_PROFILE",
)
POLYGLOT_MARKERS = (b"<script", b"PK\x03\x04", b"bunri-polyglot-payload")

# Pixel checks: a point as fractions of the output's width and height, and the expected value.
Point = tuple[float, float]
PixelCheck = tuple[Point, tuple[int, ...]]


@dataclass(frozen=True)
class Refused:
    status: int
    code: str


@dataclass(frozen=True)
class Accepted:
    media_type: str
    # normalize's width and height: after EXIF orientation.
    size: tuple[int, int]
    original_media_type: Literal["image/jpeg", "image/png"] = "image/jpeg"
    # The stored original's mode when re-opened with Pillow.
    original_mode: str = "RGB"
    # The upright test pattern (red top-left, blue top-right quadrants) must be where a person sees
    # it: in the original, the thumbnail and the analysis image.
    upright_marker: bool = False
    # Colours of the stored original (alpha compared alone where the expected alpha is 0) and of
    # the thumbnail (always RGB or L, transparency laid on white).
    pixels: tuple[PixelCheck, ...] = ()
    thumbnail_pixels: tuple[PixelCheck, ...] = ()
    tolerance: int = 12
    # Byte strings of the upload that no output may contain.
    absent: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class AcceptedThenCorrupt:
    media_type: str


Expectation = Refused | Accepted | AcceptedThenCorrupt


@dataclass(frozen=True)
class CorpusFile:
    name: str
    description: str
    expect: Expectation

    @property
    def outcome(self) -> Literal["refused", "accepted", "accepted_then_corrupt"]:
        if isinstance(self.expect, Refused):
            return "refused"
        if isinstance(self.expect, Accepted):
            return "accepted"
        return "accepted_then_corrupt"


TOO_LARGE = Refused(413, "image_too_large")
UNSUPPORTED = Refused(415, "unsupported_media_type")
CORRUPT = Refused(422, "image_corrupt")
TOO_MANY_PIXELS = Refused(422, "image_too_many_pixels")


# --- Encoders and byte surgery ----------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _jpeg(image: Image.Image, **params: object) -> bytes:
    return _save(image, "JPEG", quality=95, **params)


def _png(image: Image.Image, **params: object) -> bytes:
    return _save(image, "PNG", **params)


def encode_heic(image: Image.Image, exif: bytes | None = None) -> bytes:
    if exif is not None:
        # libheif takes `image` as upright: it codes the pixels turned as the EXIF orientation
        # says and adds irot/imir boxes that turn them back, keeping the EXIF tag as well.
        image.info["exif"] = exif
    heif = pillow_heif.from_pillow(image)
    buffer = io.BytesIO()
    heif.save(buffer, quality=90)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _png_raw(
    width: int, height: int, idat: bytes, *, bit_depth: int = 8, colour_type: int = 2
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def _png_solid(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A large solid PNG written row by row, never holding the raw pixels in memory."""
    row = b"\x00" + bytes(colour) * width
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return _png_raw(width, height, idat)


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment up to and including the first SOS."""
    found, pos = [], 2
    while True:
        marker = jpeg[pos + 1]
        length = struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        found.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            return found
        pos += 2 + length


def _patch_sof_size(jpeg: bytes, width: int, height: int) -> bytes:
    for marker, start, _end in _jpeg_segments(jpeg):
        if marker in (0xC0, 0xC1, 0xC2):
            return jpeg[: start + 5] + struct.pack(">HH", height, width) + jpeg[start + 9 :]
    raise AssertionError("no SOF segment")


def _exif(orientation: int | None = None, *, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "BunriCam"  # Make
    exif[0x0110] = "Model bunri-secret-camera"
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {
            1: "N",
            2: GPS_LATITUDE,
            3: "E",
            4: GPS_LONGITUDE,
        }
    return exif.tobytes()


def _xmp_segment() -> bytes:
    xml = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'exif:GPSLatitude="37,33.52228N" exif:GPSLongitude="126,58.70707E" '
        b'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        b'photoshop:City="bunri-secret-xmp-location"/></rdf:RDF></x:xmpmeta>'
    )
    return jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xml)


def _iptc_segment() -> bytes:
    city = b"bunri-secret-iptc-city"
    record = b"\x1c\x02\x5a" + struct.pack(">H", len(city)) + city  # IPTC 2:90 City
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    return jpeg_segment(0xED, b"Photoshop 3.0\x00" + resource)


def _exif_thumbnail_segment(thumbnail_jpeg: bytes) -> bytes:
    """APP1 EXIF whose IFD1 holds a whole JPEG (with its own FF D9), as cameras write."""
    ifd0 = struct.pack("<H", 0) + struct.pack("<I", 8 + 6)  # no entries; IFD1 follows
    ifd1_entries = struct.pack("<HHII", 0x0201, 4, 1, 8 + 6 + 30) + struct.pack(
        "<HHII", 0x0202, 4, 1, len(thumbnail_jpeg)
    )
    ifd1 = struct.pack("<H", 2) + ifd1_entries + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1 + thumbnail_jpeg
    return jpeg_segment(0xE1, b"Exif\x00\x00" + tiff)


def _many_scans(progressive_jpeg: bytes, copies: int) -> bytes:
    """A progressive JPEG with its last scan repeated: libjpeg only warns, and decodes each."""
    last_sos = progressive_jpeg.rindex(b"\xff\xda")
    end = progressive_jpeg.rindex(b"\xff\xd9")
    return progressive_jpeg[:last_sos] + progressive_jpeg[last_sos:end] * copies + b"\xff\xd9"


# --- ICC: a Display-P3-like profile, written by hand (LittleCMS only builds sRGB) ---------------

# D50-adapted primaries of Display P3 (as in Apple's profile), with a plain 2.2 gamma curve.
P3_PRIMARIES = (
    (0.515121, 0.241196, -0.001053),
    (0.291977, 0.692245, 0.041885),
    (0.157104, 0.066574, 0.784073),
)
P3_GAMMA = 563 / 256  # u8Fixed8 can't hold 2.2 exactly
D50 = (0.964203, 1.0, 0.824905)


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def display_p3_profile() -> bytes:
    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(_s15f16(v) for v in values)

    description = b"Display P3 (Bunri test, gamma 2.2)\x00"
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(description))
        + description
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + bytes(67)
    )
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(P3_GAMMA * 256)) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\x00\x00\x00\x00No copyright, test data\x00"),
        (b"wtpt", xyz(D50)),
        (b"rXYZ", xyz(P3_PRIMARIES[0])),
        (b"gXYZ", xyz(P3_PRIMARIES[1])),
        (b"bXYZ", xyz(P3_PRIMARIES[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)  # perceptual
        + b"".join(_s15f16(v) for v in D50)
        + bytes(48)  # creator, profile ID, reserved
    )
    assert len(header) == 128
    return header + table + body


def p3_to_srgb(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The colorimetric conversion LittleCMS must perform, computed independently of it."""
    linear = [(c / 255) ** P3_GAMMA for c in rgb]
    xyz = [sum(P3_PRIMARIES[j][i] * linear[j] for j in range(3)) for i in range(3)]
    # sRGB's D50-adapted matrix (Bradford), inverted.
    srgb = (
        (0.436066, 0.222488, 0.013916),
        (0.385147, 0.716873, 0.097076),
        (0.143066, 0.060608, 0.714096),
    )
    m = [[srgb[j][i] for j in range(3)] for i in range(3)]  # rows: X, Y, Z
    det = (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )
    inverse = [
        [
            (m[(c + 1) % 3][(r + 1) % 3] * m[(c + 2) % 3][(r + 2) % 3])
            - (m[(c + 1) % 3][(r + 2) % 3] * m[(c + 2) % 3][(r + 1) % 3])
            for c in range(3)
        ]
        for r in range(3)
    ]
    out = []
    for r in range(3):
        value = sum(inverse[r][c] * xyz[c] for c in range(3)) / det
        value = min(1.0, max(0.0, value))
        encoded = 12.92 * value if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055
        out.append(round(encoded * 255))
    return out[0], out[1], out[2]


# --- Test patterns ------------------------------------------------------------------------------


def marker_image(width: int = 64, height: int = 48) -> Image.Image:
    """Upright pattern: grey, with a red top-left and a blue top-right quadrant."""
    image = Image.new("RGB", (width, height), GREY)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=RED)
    draw.rectangle((width // 2, 0, width - 1, height // 2 - 1), fill=BLUE)
    return image


# How each EXIF orientation says the stored pixels relate to the upright picture (EXIF 2.3,
# tag 0x0112): the stored image is the upright one with this applied, so a viewer undoes it.
# Pillow's ROTATE_90 turns counter-clockwise.
_STORED_FROM_UPRIGHT: dict[int, list[Image.Transpose]] = {
    1: [],
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    # 5: row 0 is the visual left side, column 0 the visual top: a transpose.
    5: [Image.Transpose.TRANSPOSE],
    # 6: row 0 is the visual right side: the camera was turned clockwise, so the stored image is
    # the upright one turned counter-clockwise.
    6: [Image.Transpose.ROTATE_90],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_270],
}


def stored_for_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    stored = upright
    for step in _STORED_FROM_UPRIGHT[orientation]:
        stored = stored.transpose(step)
    return stored


def photo_like(width: int, height: int, seed: int = 7) -> Image.Image:
    """Gradients and soft shapes: compresses like a photo, deterministic."""
    rng = random.Random(seed)
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            Image.radial_gradient("L").resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(4, max(5, width // 6))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return base


def _halves(
    left: int | tuple[int, ...], right: int | tuple[int, ...], mode: str, size: tuple[int, int]
) -> Image.Image:
    """Two flat halves, split down the middle."""
    image = Image.new(mode, size, left)
    ImageDraw.Draw(image).rectangle((size[0] // 2, 0, size[0] - 1, size[1] - 1), fill=right)
    return image


LEFT, RIGHT, CENTRE = (0.25, 0.5), (0.75, 0.5), (0.5, 0.5)


# --- The corpus ---------------------------------------------------------------------------------

Builder = Callable[[], bytes]


def _entries() -> list[tuple[CorpusFile, Builder]]:
    entries: list[tuple[CorpusFile, Builder]] = []

    def add(name: str, description: str, expect: Expectation) -> Callable[[Builder], Builder]:
        def register(build: Builder) -> Builder:
            entries.append((CorpusFile(name, description, expect), build))
            return build

        return register

    small_jpeg = _jpeg(photo_like(64, 48))

    # Type by magic bytes: names and Content-Types lie.
    add("empty.jpg", "zero bytes", UNSUPPORTED)(lambda: b"")
    add("text.jpg", "plain text named .jpg", UNSUPPORTED)(
        lambda: b"hello, this is not a photo\n" * 20
    )
    add("svg-script.jpg", "SVG with a script, named .jpg", UNSUPPORTED)(
        lambda: (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>\n"
        )
    )
    add("document.pdf", "PDF magic", UNSUPPORTED)(
        lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
    )
    add("html-then-jpeg.jpg", "an HTML page with a JPEG after it", UNSUPPORTED)(
        lambda: b"<!doctype html><html><body>hi</body></html>\n" + small_jpeg
    )
    add("archive.zip.jpg", "a ZIP archive named .jpg", UNSUPPORTED)(
        lambda: _zip_payload(b"readme.txt", b"hello")
    )
    add("animated.gif", "animated GIF (not accepted)", UNSUPPORTED)(_animated_gif)
    add("image.bmp", "BMP", UNSUPPORTED)(lambda: _save(marker_image(), "BMP"))
    add("image.tiff", "TIFF", UNSUPPORTED)(lambda: _save(marker_image(), "TIFF"))
    add("image.avif", "AVIF: an ftyp box with the avif brand", UNSUPPORTED)(
        lambda: _ftyp(b"avif", b"mif1", b"avif", b"miaf") + bytes(64)
    )
    add("generic-heif-avif.heif", "mif1 major brand, avif compatible brand", UNSUPPORTED)(
        lambda: _ftyp(b"mif1", b"mif1", b"avif", b"miaf") + bytes(64)
    )
    add("video.mp4", "an MP4 video's ftyp", UNSUPPORTED)(
        lambda: _ftyp(b"isom", b"isom", b"iso2", b"mp41") + bytes(64)
    )
    add("png-named.jpg", "a real PNG named .jpg", Accepted("image/png", (64, 48)))(
        lambda: _png(marker_image())
    )

    # Size cap (generated here, at test time: never committed).
    add("over-10mib.jpg", "a valid JPEG padded to 10 MiB + 1 byte", TOO_LARGE)(
        lambda: small_jpeg + bytes(MAX_BYTES + 1 - len(small_jpeg))
    )

    # Truncation and structure.
    add("truncated.jpg", "a JPEG cut in the middle of its scan", CORRUPT)(
        lambda: _jpeg(photo_like(640, 480))[:20_000]
    )
    add(
        "truncated-with-exif-thumbnail.jpg",
        "a cut-off JPEG whose EXIF thumbnail still ends in FF D9 (must not fool the EOI check)",
        CORRUPT,
    )(
        lambda: _insert_after_soi(_jpeg(photo_like(640, 480)), _exif_thumbnail_segment(small_jpeg))[
            :25_000
        ]
    )
    add("no-scan.jpg", "SOI, APP0 and EOI, no image data", CORRUPT)(
        lambda: (
            b"\xff\xd8"
            + jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + b"\xff\xd9"
        )
    )
    add(
        "fill-bytes.jpg",
        "9 MB of 0xFF fill bytes between segments (Pillow loops for seconds)",
        CORRUPT,
    )(lambda: small_jpeg[:2] + b"\xff" * 9_000_000 + small_jpeg[2:])
    add("truncated.png", "a PNG cut inside its IDAT", CORRUPT)(
        lambda: _png(photo_like(320, 240))[:5_000]
    )
    add("no-iend.png", "a PNG without its IEND chunk", CORRUPT)(lambda: _png(marker_image())[:-12])
    add(
        "many-chunks.png",
        "700,000 empty ancillary chunks before IDAT (Pillow loops for seconds)",
        CORRUPT,
    )(_png_many_chunks)
    add(
        "text-bomb.png",
        "64 zTXt chunks of 1 KB, each inflating to 1 MB when the header is read",
        CORRUPT,
    )(_png_text_bomb)
    add("zero-width.png", "IHDR says 0 x 10", CORRUPT)(
        lambda: _png_raw(0, 10, zlib.compress(b"\x00" * 10))
    )
    add("wrong-riff-size.webp", "WebP whose RIFF size is 100 bytes too large", CORRUPT)(
        lambda: _webp_wrong_riff(100)
    )
    add("short-riff-size.webp", "WebP whose RIFF size is 8 bytes too small", CORRUPT)(
        lambda: _webp_wrong_riff(-8)
    )
    add("truncated.heic", "a HEIC cut inside its mdat box", CORRUPT)(
        lambda: encode_heic(photo_like(128, 96))[:-20]
    )

    # Pixel budget.
    add("bomb-50000x50000.png", "a 50,000 x 50,000 PNG header in 100 bytes", TOO_MANY_PIXELS)(
        lambda: _png_raw(50_000, 50_000, zlib.compress(b"\x00" * 16))
    )
    add(
        "bomb-8000x8000.png", "8,000 x 8,000: under Pillow's own limit, over ours", TOO_MANY_PIXELS
    )(lambda: _png_raw(8_000, 8_000, zlib.compress(b"\x00" * 16)))
    add("bomb-65500x65500.jpg", "a JPEG whose SOF says 65,500 x 65,500", TOO_MANY_PIXELS)(
        lambda: _patch_sof_size(small_jpeg, 65_500, 65_500)
    )
    add("bomb-16383x16383.webp", "a lossless WebP header saying 16,383 x 16,383", TOO_MANY_PIXELS)(
        _webp_bomb
    )
    add(
        "many-pixels-within-budget.png",
        "2,000 x 2,000 solid PNG: 4 megapixels from a few KB, which any file may declare",
        Accepted("image/png", (2000, 2000), pixels=((CENTRE, RED),)),
    )(lambda: _png_solid(2000, 2000, RED))
    add(
        "pixels-out-of-proportion.png",
        "6,000 x 6,000 solid PNG: 36 megapixels from about 100 KB, a bomb rather than a photo",
        TOO_MANY_PIXELS,
    )(lambda: _png_solid(6000, 6000, RED))
    add(
        "tall-1x100000.png",
        "1 x 100,000: too tall for JPEG (65,500 max), thumbnail 1 px wide",
        Accepted(
            "image/png", (1, 100_000), original_media_type="image/png", pixels=((CENTRE, RED),)
        ),
    )(lambda: _png_solid(1, 100_000, RED))
    add("tiny-1x1.png", "a single pixel", Accepted("image/png", (1, 1), pixels=((CENTRE, BLUE),)))(
        lambda: _png(Image.new("RGB", (1, 1), BLUE))
    )
    add(
        "tiny-1x1.jpg",
        "a single-pixel JPEG",
        Accepted("image/jpeg", (1, 1), pixels=((CENTRE, BLUE),)),
    )(lambda: _jpeg(Image.new("RGB", (1, 1), BLUE)))

    # Modes.
    add(
        "sixteen-bit-grey.png",
        "16-bit greyscale (mode I;16): scaled, not clipped to white",
        Accepted("image/png", (32, 16), original_mode="L", pixels=((LEFT, (64,)), (RIGHT, (192,)))),
    )(_sixteen_bit_grey)
    add(
        "sixteen-bit-rgb.png",
        "48-bit RGB PNG",
        Accepted("image/png", (16, 8), pixels=((CENTRE, (200, 80, 60)),)),
    )(_sixteen_bit_rgb)
    add(
        "cmyk.jpg",
        "Adobe CMYK JPEG without a profile",
        Accepted("image/jpeg", (32, 32), pixels=((LEFT, (255, 0, 0)), (RIGHT, (0, 0, 255)))),
    )(lambda: _jpeg(_halves((0, 255, 255, 0), (255, 255, 0, 0), "CMYK", (32, 32))))
    add(
        "palette-transparent.png",
        "palette PNG with a transparent index (tRNS)",
        Accepted(
            "image/png",
            (32, 16),
            original_media_type="image/png",
            original_mode="RGBA",
            pixels=((LEFT, (0, 0, 0, 0)), (RIGHT, (*RED, 255))),
            thumbnail_pixels=((LEFT, WHITE), (RIGHT, RED)),
        ),
    )(_palette_transparent)
    add(
        "palette-opaque.png",
        "palette PNG without transparency",
        Accepted("image/png", (32, 16), pixels=((LEFT, BLUE), (RIGHT, RED))),
    )(
        lambda: _png(
            _halves(BLUE, RED, "RGB", (32, 16)).convert("P", palette=Image.Palette.ADAPTIVE)
        )
    )
    add(
        "rgba.png",
        "RGBA with real transparency",
        Accepted(
            "image/png",
            (32, 16),
            original_media_type="image/png",
            original_mode="RGBA",
            pixels=((LEFT, (0, 0, 0, 0)), (RIGHT, (*BLUE, 255))),
            thumbnail_pixels=((LEFT, WHITE), (RIGHT, BLUE)),
        ),
    )(lambda: _png(_halves((0, 0, 0, 0), (*BLUE, 255), "RGBA", (32, 16))))
    add(
        "rgba-opaque.png",
        "RGBA whose alpha is 255 everywhere: stored as JPEG",
        Accepted("image/png", (32, 16), pixels=((LEFT, RED), (RIGHT, BLUE))),
    )(lambda: _png(_halves((*RED, 255), (*BLUE, 255), "RGBA", (32, 16))))
    add(
        "grey.jpg",
        "greyscale JPEG",
        Accepted(
            "image/jpeg", (32, 16), original_mode="L", pixels=((LEFT, (40,)), (RIGHT, (200,)))
        ),
    )(lambda: _jpeg(_halves(40, 200, "L", (32, 16))))
    add(
        "grey-alpha.png",
        "LA with real transparency",
        Accepted(
            "image/png",
            (32, 16),
            original_media_type="image/png",
            original_mode="LA",
            pixels=((LEFT, (0, 0)), (RIGHT, (90, 255))),
            thumbnail_pixels=((LEFT, (255,)), (RIGHT, (90,))),
        ),
    )(lambda: _png(_halves((0, 0), (90, 255), "LA", (32, 16))))
    add(
        "one-bit.png",
        "1-bit black and white",
        Accepted("image/png", (32, 16), original_mode="L", pixels=((LEFT, (0,)), (RIGHT, (255,)))),
    )(lambda: _png(_halves(0, 1, "1", (32, 16))))

    # Animation: first frame only.
    add(
        "animated.webp",
        "3-frame animated WebP (red, green, blue): the first frame",
        Accepted("image/webp", (32, 16), pixels=((CENTRE, RED),)),
    )(lambda: _animated("WEBP", lossless=True))
    add(
        "animated.png",
        "3-frame APNG (red, green, blue): the first frame",
        Accepted("image/png", (32, 16), pixels=((CENTRE, RED),)),
    )(lambda: _animated("PNG"))

    # Orientation: the stored pixels are turned, the EXIF tag says how to undo it.
    for orientation in range(1, 9):
        add(
            f"exif-orientation-{orientation}.jpg",
            f"JPEG stored turned, EXIF orientation {orientation}",
            Accepted("image/jpeg", marker_image().size, upright_marker=True),
        )(functools.partial(_oriented_jpeg, orientation))
    add(
        "exif-orientation-6.png",
        "PNG with an eXIf chunk, orientation 6",
        Accepted("image/png", (64, 48), upright_marker=True),
    )(lambda: _png(stored_for_orientation(marker_image(), 6), exif=_exif(6)))
    add(
        "exif-orientation-3.webp",
        "WebP with EXIF orientation 3",
        Accepted("image/webp", (64, 48), upright_marker=True),
    )(
        lambda: _save(
            stored_for_orientation(marker_image(), 3), "WEBP", lossless=True, exif=_exif(3)
        )
    )
    add(
        "bad-orientation.jpg",
        "EXIF orientation 9 (out of range): pixels kept as stored",
        Accepted("image/jpeg", (64, 48), upright_marker=True),
    )(lambda: _jpeg(marker_image(), exif=_exif(9)))

    # Metadata that must not survive.
    add(
        "gps-xmp-iptc-comment.jpg",
        "EXIF with GPS, XMP with a location, IPTC city, a comment",
        Accepted("image/jpeg", (64, 48), upright_marker=True, absent=SECRETS),
    )(_metadata_jpeg)
    add(
        "polyglot.jpg",
        "a valid JPEG with an HTML page and a ZIP archive appended",
        Accepted("image/jpeg", (64, 48), upright_marker=True, absent=POLYGLOT_MARKERS),
    )(_polyglot)
    add(
        "motion-photo-trailer.jpg",
        "a JPEG with 2 MB appended after EOI, like a phone's motion-photo video",
        Accepted("image/jpeg", (64, 48), upright_marker=True),
    )(lambda: _jpeg(marker_image()) + random.Random(3).randbytes(2_000_000))

    # Colour profiles.
    p3_colour = (200, 80, 60)
    add(
        "display-p3.jpg",
        "Display-P3-like ICC profile: converted to sRGB, then dropped",
        Accepted(
            "image/jpeg",
            (32, 16),
            pixels=((LEFT, p3_to_srgb(p3_colour)), (RIGHT, p3_to_srgb(GREY))),
            tolerance=6,
            absent=(b"ICC_PROFILE", b"Display P3"),
        ),
    )(lambda: _jpeg(_halves(p3_colour, GREY, "RGB", (32, 16)), icc_profile=display_p3_profile()))
    add(
        "srgb-icc.png",
        "PNG with an sRGB iCCP profile: colours unchanged, profile dropped",
        Accepted("image/png", (32, 16), pixels=((LEFT, p3_colour), (RIGHT, GREY)), tolerance=6),
    )(lambda: _png(_halves(p3_colour, GREY, "RGB", (32, 16)), icc_profile=_srgb_profile()))
    add(
        "broken-icc.jpg",
        "an ICC profile of random bytes: ignored, the pixels are fine",
        Accepted("image/jpeg", (64, 48), upright_marker=True, absent=(b"ICC_PROFILE",)),
    )(lambda: _jpeg(marker_image(), icc_profile=random.Random(5).randbytes(600)))

    # HEIF.
    add(
        "photo.heic",
        "HEIC written by libheif (x265)",
        Accepted("image/heic", (64, 48), upright_marker=True),
    )(lambda: encode_heic(marker_image()))
    add(
        "rotated.heic",
        "HEIC coded turned, with an irot box and EXIF orientation 6 (as iPhones write): upright, "
        "not turned twice",
        Accepted("image/heic", (64, 48), upright_marker=True),
    )(_rotated_heic)

    # Other JPEG flavours.
    add(
        "progressive.jpg", "progressive JPEG", Accepted("image/jpeg", (64, 48), upright_marker=True)
    )(lambda: _jpeg(marker_image(), progressive=True))
    add(
        "exif-thumbnail.jpg",
        "a JPEG whose EXIF holds a thumbnail JPEG",
        Accepted("image/jpeg", (64, 48), upright_marker=True),
    )(lambda: _insert_after_soi(_jpeg(marker_image()), _exif_thumbnail_segment(small_jpeg)))
    add(
        "webp-lossy.webp",
        "lossy WebP",
        Accepted("image/webp", (64, 48), upright_marker=True),
    )(lambda: _save(marker_image(), "WEBP", quality=90))
    add(
        "webp-alpha.webp",
        "WebP with transparency",
        Accepted(
            "image/webp",
            (32, 16),
            original_media_type="image/png",
            original_mode="RGBA",
            pixels=((LEFT, (0, 0, 0, 0)), (RIGHT, (*RED, 255))),
            thumbnail_pixels=((LEFT, WHITE), (RIGHT, RED)),
        ),
    )(lambda: _save(_halves((0, 0, 0, 0), (*RED, 255), "RGBA", (32, 16)), "WEBP", lossless=True))

    # The header passes, the pixels do not.
    add(
        "bad-zlib.png",
        "valid chunks, but the IDAT is not a zlib stream",
        AcceptedThenCorrupt("image/png"),
    )(lambda: _png_raw(16, 16, b"this is not deflate data at all" * 4))
    add(
        "garbage-lossless.webp",
        "lossless WebP whose bitstream after the header is zeroed",
        AcceptedThenCorrupt("image/webp"),
    )(_webp_garbage)
    add(
        "garbage-mdat.heic",
        "HEIC whose coded picture (mdat) is overwritten with a byte ramp",
        AcceptedThenCorrupt("image/heic"),
    )(_heic_garbage)
    add(
        "many-scans.jpg",
        "progressive JPEG with its last scan repeated 300 times (decoder DoS)",
        AcceptedThenCorrupt("image/jpeg"),
    )(lambda: _many_scans(_jpeg(photo_like(64, 48), progressive=True), 300))

    return entries


def _oriented_jpeg(orientation: int) -> bytes:
    return _jpeg(stored_for_orientation(marker_image(), orientation), exif=_exif(orientation))


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    payload = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(payload)) + b"ftyp" + payload


def _zip_payload(name: bytes, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name.decode(), content)
    return buffer.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _animated(fmt: str, **params: object) -> bytes:
    frames = [Image.new("RGB", (32, 16), colour) for colour in (RED, (20, 220, 20), BLUE)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)


def _png_many_chunks() -> bytes:
    png = _png(Image.new("RGB", (8, 8), RED))
    ihdr_end = 8 + 25
    return png[:ihdr_end] + png_chunk(b"zzZz", b"") * 700_000 + png[ihdr_end:]


def _png_text_bomb() -> bytes:
    png = _png(Image.new("RGB", (8, 8), RED))
    bomb = zlib.compress(b"a" * 1_000_000, 9)
    text = b"".join(png_chunk(b"zTXt", b"k%d\x00\x00" % i + bomb) for i in range(64))
    return png[:33] + text + png[33:]


def _webp_wrong_riff(delta: int) -> bytes:
    webp = _save(marker_image(), "WEBP", quality=80)
    size = int.from_bytes(webp[4:8], "little") + delta
    return webp[:4] + size.to_bytes(4, "little") + webp[8:]


def _webp_bomb() -> bytes:
    """Rewrite a lossless WebP's 14-bit width and height fields to their maximum."""
    webp = _save(Image.new("RGB", (16, 16), RED), "WEBP", lossless=True)
    at = webp.index(b"VP8L") + 9  # after the chunk header and the 0x2F signature
    bits = int.from_bytes(webp[at : at + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | 16382 | 16382 << 14
    return webp[:at] + bits.to_bytes(4, "little") + webp[at + 4 :]


def _webp_garbage() -> bytes:
    webp = _save(photo_like(16, 16), "WEBP", lossless=True)
    at = webp.index(b"VP8L") + 13
    return webp[:at] + bytes(len(webp) - at)


def _heic_garbage() -> bytes:
    heic = encode_heic(photo_like(64, 48))
    pos = 0
    while heic[pos + 4 : pos + 8] != b"mdat":
        pos += int.from_bytes(heic[pos : pos + 4], "big")
    size = int.from_bytes(heic[pos : pos + 4], "big")
    ramp = bytes(i % 256 for i in range(size - 8))
    return heic[: pos + 8] + ramp + heic[pos + size :]


def _rotated_heic() -> bytes:
    """Coded turned like an orientation-6 photo, with an irot box (270, anticlockwise) and EXIF
    orientation 6 — as iPhones write them.

    pillow-heif's writer turns the pixels itself when given an orientation, and with libheif 1.23
    it turns them the same way as the irot box it writes, so its output is upside down. Rather than
    depend on that, the coded pixels are read back with the irot box neutralised, and the input
    that yields the turned ones is kept.
    """
    wanted = stored_for_orientation(marker_image(), 6)
    for candidate in (marker_image(), marker_image().transpose(Image.Transpose.ROTATE_180)):
        data = encode_heic(candidate, exif=_exif(6))
        angle = data.index(b"irot") + 4
        assert data[angle] == 3  # 270 degrees anticlockwise
        coded = pillow_heif.open_heif(io.BytesIO(data[:angle] + b"\x00" + data[angle + 1 :]))
        pixels = coded.to_pillow().convert("RGB")
        if pixels.size == wanted.size and _mean_difference(pixels, wanted) < 20:
            return data
    raise AssertionError("could not write a HEIC whose coded pixels are turned")


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


def _sixteen_bit_grey() -> bytes:
    image = Image.new("I;16", (32, 16), 64 * 256 + 128)
    ImageDraw.Draw(image).rectangle((16, 0, 31, 15), fill=192 * 256 + 128)
    return _png(image)


def _sixteen_bit_rgb() -> bytes:
    pixel = b"".join(struct.pack(">H", c * 256 + 255) for c in (200, 80, 60))
    raw = b"".join(b"\x00" + pixel * 16 for _ in range(8))
    return _png_raw(16, 8, zlib.compress(raw), bit_depth=16)


def _palette_transparent() -> bytes:
    image = Image.new("P", (32, 16), 0)
    image.putpalette([0, 0, 0, *RED] + [0, 0, 0] * 254)
    ImageDraw.Draw(image).rectangle((16, 0, 31, 15), fill=1)
    return _png(image, transparency=0)


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _metadata_jpeg() -> bytes:
    jpeg = _jpeg(marker_image(), exif=_exif(1, gps=True), comment=b"bunri-secret-comment")
    return _insert_after_soi(jpeg, _xmp_segment(), _iptc_segment())


def _polyglot() -> bytes:
    html = b"<html><body><script>alert('bunri-polyglot-payload')</script></body></html>"
    return _jpeg(marker_image()) + html + _zip_payload(b"payload.txt", b"bunri-polyglot-payload")


def corpus_files() -> list[CorpusFile]:
    """The corpus's names and expectations, without building any file."""
    return [entry for entry, _ in _entries()]


def make_corpus(directory: Path) -> list[CorpusFile]:
    """Write every corpus file into `directory`; returns their names and expected outcomes."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for entry, build in _entries():
        (directory / entry.name).write_bytes(build())
        files.append(entry)
    return files


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for item in make_corpus(target):
        print(f"{item.outcome:22} {item.name:36} {item.description}")
