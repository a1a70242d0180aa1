"""Cheap structural checks, without decoding a pixel: is the file complete, and is its layout one a
decoder can walk in bounded time?

Two jobs. Catch truncation (an upload cut off mid-way) on the accept path, where decoding is too
slow. And refuse layouts that are legal but cost Pillow seconds of pure-Python looping before it
reaches the pixels: a JPEG padded with megabytes of 0xFF fill bytes, a PNG of a million empty
chunks (3 to 7 s per open, measured). These walks touch only segment and chunk headers; the byte
searches run in C. `check_decoding_cost` is the worker's extra check before it decodes.
"""

from __future__ import annotations

from typing import Final

from bunri.images.errors import ImageCorrupt
from bunri.images.media_types import PNG_SIGNATURE, MediaType

TRUNCATED: Final = "the file is incomplete (it seems to have been cut off during upload)"
_PADDED: Final = "the image header is padded with an implausible number of stray bytes"

# Far above what cameras and editors write (JPEG: under 40 segments before the first scan and at
# most a few dozen scans; PNG: a few thousand chunks for a 10 MiB file; HEIF: under ten top-level
# boxes), far below what makes a decoder crawl.
MAX_JPEG_SEGMENTS: Final = 256
MAX_JPEG_SKIPPED_BYTES: Final = 1024
MAX_JPEG_SCANS: Final = 100
MAX_PNG_CHUNKS: Final = 10_000
# Pillow inflates every zTXt (and compressed iTXt) chunk when it opens a PNG, up to 1 MB each and
# 64 MB in all: 64 KB of them cost 0.2 s and 64 MB on the accept path. Editors write a few at most.
MAX_PNG_COMPRESSED_TEXT: Final = 8
MAX_HEIF_BOXES: Final = 64

_PNG_IEND: Final = b"IEND"
_PNG_COMPRESSED_TEXT: Final = frozenset({b"zTXt", b"iTXt"})


def check_structure(data: bytes, media_type: MediaType) -> None:
    """Raise ImageCorrupt unless `data` (sniffed as `media_type`) is complete and walkable."""
    if media_type == "image/jpeg":
        _check_jpeg(data)
    elif media_type == "image/png":
        _check_png(data)
    elif media_type == "image/webp":
        _check_webp(data)
    else:
        _check_heif(data)


def check_decoding_cost(data: bytes, media_type: MediaType) -> None:
    """Raise ImageCorrupt for files whose decoding would cost far more than their pixels justify.

    Run before decoding, not on the accept path: it reads the whole file (about 1 ns a byte).
    """
    if media_type != "image/jpeg":
        return
    scan_data = _jpeg_first_scan_data(data)
    end = data.find(b"\xff\xd9", scan_data)
    # Progressive JPEGs repeat scans over the whole image; libjpeg accepts thousands of bogus ones
    # with only a warning and spends time on each of them (a known decoding DoS).
    if data.count(b"\xff\xda", scan_data, end) + 1 > MAX_JPEG_SCANS:
        raise ImageCorrupt("the image has an implausible number of progressive scans")


def _check_jpeg(data: bytes) -> None:
    scan_data = _jpeg_first_scan_data(data)
    # Entropy-coded data escapes every 0xFF (FF 00), so an FF D9 after the first scan header can
    # only be an end-of-image marker; the EOI of an EXIF thumbnail (inside APP1, before the scan)
    # does not count. Anything may follow the end: phones append megabytes (motion-photo videos,
    # Samsung trailers), and re-encoding drops it. rfind, because the end is usually the last two
    # bytes: a forward search would read the whole file.
    if data.rfind(b"\xff\xd9", scan_data) < 0:
        raise ImageCorrupt(TRUNCATED)


def _jpeg_first_scan_data(data: bytes) -> int:
    """Offset of the first byte after the first start-of-scan header, found by walking segments."""
    pos, segments, skipped = 2, 0, 0
    size = len(data)
    while True:
        if pos >= size:
            raise ImageCorrupt(TRUNCATED)
        if data[pos] != 0xFF:
            # Stray bytes between segments: libjpeg skips them with a warning, Pillow one at a time
            # in Python; a handful is an encoder bug, megabytes are an attack.
            next_marker = data.find(b"\xff", pos, pos + MAX_JPEG_SKIPPED_BYTES + 1)
            if next_marker < 0:
                raise ImageCorrupt(TRUNCATED if size - pos <= MAX_JPEG_SKIPPED_BYTES else _PADDED)
            skipped += next_marker - pos
            pos = next_marker
        # Any number of 0xFF fill bytes may precede a marker; count them in C on a bounded window.
        window = data[pos : pos + MAX_JPEG_SKIPPED_BYTES + 2]
        fill = len(window) - len(window.lstrip(b"\xff")) - 1
        skipped += fill
        pos += fill
        if skipped > MAX_JPEG_SKIPPED_BYTES:
            raise ImageCorrupt(_PADDED)
        if pos + 1 >= size:
            raise ImageCorrupt(TRUNCATED)
        marker = data[pos + 1]
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2  # markers without a length field
            continue
        if marker == 0xD9:
            raise ImageCorrupt("the image ends before its pixel data starts")
        if pos + 4 > size:
            raise ImageCorrupt(TRUNCATED)
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise ImageCorrupt("the image header is damaged")
        segment_end = pos + 2 + length
        if segment_end > size:
            raise ImageCorrupt(TRUNCATED)
        if marker == 0xDA:
            return segment_end
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageCorrupt("the image header has an implausible number of segments")
        pos = segment_end


def _check_png(data: bytes) -> None:
    """Walk the chunks to IEND; bytes after IEND are allowed (decoders ignore them, as we do)."""
    pos, size, compressed_text = len(PNG_SIGNATURE), len(data), 0
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 12 > size:
            raise ImageCorrupt(TRUNCATED)
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_end = pos + 12 + length  # length, type, data, CRC
        if length > 0x7FFF_FFFF or chunk_end > size:
            raise ImageCorrupt(TRUNCATED)
        kind = data[pos + 4 : pos + 8]
        if kind == _PNG_IEND:
            return
        if kind in _PNG_COMPRESSED_TEXT:
            compressed_text += 1
            if compressed_text > MAX_PNG_COMPRESSED_TEXT:
                raise ImageCorrupt("the image has an implausible number of compressed text chunks")
        pos = chunk_end
    raise ImageCorrupt("the image has an implausible number of chunks")


def _check_webp(data: bytes) -> None:
    # RIFF's size field counts everything after itself: a mismatch means a cut-off or spliced file.
    if int.from_bytes(data[4:8], "little") + 8 != len(data):
        raise ImageCorrupt("the file's length does not match the length in its RIFF header")


def _check_heif(data: bytes) -> None:
    """Top-level ISO boxes (ftyp, meta, mdat, ...) must tile the file exactly."""
    pos, size = 0, len(data)
    for _ in range(MAX_HEIF_BOXES):
        if pos == size:
            return
        if pos + 8 > size:
            raise ImageCorrupt(TRUNCATED)
        box_size, header = int.from_bytes(data[pos : pos + 4], "big"), 8
        if box_size == 1:  # 64-bit size follows the type
            if pos + 16 > size:
                raise ImageCorrupt(TRUNCATED)
            box_size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif box_size == 0:  # the box runs to the end of the file
            box_size = size - pos
        if box_size < header:
            raise ImageCorrupt("the image's box structure is damaged")
        if pos + box_size > size:
            raise ImageCorrupt(TRUNCATED)
        pos += box_size
    raise ImageCorrupt("the image has an implausible number of boxes")
