"""The image code against a hostile corpus: every file gets exactly its expected outcome, nothing of
the upload's metadata survives, pictures come out upright, and random bytes never raise anything but
the four image errors."""

from __future__ import annotations

import contextlib
import io
import statistics
import struct
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from bunri.images import (
    ImageCorrupt,
    ImageError,
    ImageTooLarge,
    ImageTooManyPixels,
    NormalizedImage,
    UnsupportedMediaType,
    inspect_upload,
    normalize,
)
from bunri.images.normalize import fit_within
from tests.data.make_corpus import (
    BLUE,
    GPS_LATITUDE,
    GPS_LONGITUDE,
    GREY,
    MAX_BYTES,
    MAX_PIXELS,
    RED,
    Accepted,
    AcceptedThenCorrupt,
    CorpusFile,
    Refused,
    corpus_files,
    encode_heic,
    make_corpus,
    marker_image,
    photo_like,
    stored_for_orientation,
)

CORPUS = corpus_files()
THUMBNAIL_PX = 320
ANALYSIS_PX = 384

# Keys under which Pillow reports metadata it found when re-opening an output.
METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop", "iptc")
# Byte patterns of metadata containers, whatever their content.
METADATA_BYTES = (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"Photoshop 3.0")


def _of(outcome: str) -> list[CorpusFile]:
    return [entry for entry in CORPUS if entry.outcome == outcome]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    make_corpus(directory)
    return directory


def _inspect(data: bytes):
    return inspect_upload(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


def _normalize(data: bytes) -> NormalizedImage:
    return normalize(
        data, max_pixels=MAX_PIXELS, thumbnail_px=THUMBNAIL_PX, analysis_px=ANALYSIS_PX
    )


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_corpus_is_large_and_covers_every_outcome() -> None:
    assert len(CORPUS) >= 30
    assert len({entry.name for entry in CORPUS}) == len(CORPUS)
    assert {entry.outcome for entry in CORPUS} == {"refused", "accepted", "accepted_then_corrupt"}


# --- Every corpus file meets its expected outcome -------------------------------------------------


@pytest.mark.parametrize("entry", _of("refused"), ids=lambda entry: entry.name)
def test_refused_files_are_refused_with_their_status_and_code(
    entry: CorpusFile, corpus_dir: Path
) -> None:
    assert isinstance(entry.expect, Refused)
    data = (corpus_dir / entry.name).read_bytes()
    with pytest.raises(ImageError) as refused:
        _inspect(data)
    assert (refused.value.status_code, refused.value.code) == (
        entry.expect.status,
        entry.expect.code,
    )
    assert refused.value.detail.endswith(".")  # a sentence for a person, not a stack trace
    if isinstance(refused.value, ImageTooLarge):
        return  # the byte cap is the accept path's alone
    # normalize never trusts its caller: it refuses the same files the same way.
    with pytest.raises(ImageError) as again:
        _normalize(data)
    assert again.value.code == entry.expect.code


@pytest.mark.parametrize("entry", _of("accepted_then_corrupt"), ids=lambda entry: entry.name)
def test_files_whose_pixels_are_damaged_pass_the_accept_path_then_fail_as_corrupt(
    entry: CorpusFile, corpus_dir: Path
) -> None:
    assert isinstance(entry.expect, AcceptedThenCorrupt)
    data = (corpus_dir / entry.name).read_bytes()
    assert _inspect(data).media_type == entry.expect.media_type
    with pytest.raises(ImageCorrupt):
        _normalize(data)


@pytest.mark.parametrize("entry", _of("accepted"), ids=lambda entry: entry.name)
def test_accepted_files_normalize_as_expected(entry: CorpusFile, corpus_dir: Path) -> None:
    expect = entry.expect
    assert isinstance(expect, Accepted)
    data = (corpus_dir / entry.name).read_bytes()
    assert _inspect(data).media_type == expect.media_type

    result = _normalize(data)

    assert (result.width, result.height) == expect.size
    assert result.original_media_type == expect.original_media_type
    original = _open(result.original)
    assert original.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[expect.original_media_type]
    assert original.mode == expect.original_mode
    assert original.size == expect.size

    assert result.thumbnail_media_type == "image/jpeg"
    thumbnail = _open(result.thumbnail)
    assert thumbnail.format == "JPEG"
    assert thumbnail.mode in ("RGB", "L")
    assert thumbnail.size == fit_within(expect.size, THUMBNAIL_PX)
    assert max(thumbnail.size) == min(THUMBNAIL_PX, max(expect.size))

    analysis = _open(result.analysis)
    assert (analysis.format, analysis.mode) == ("JPEG", "RGB")
    assert analysis.size == fit_within(expect.size, ANALYSIS_PX)

    for output in (result.original, result.thumbnail, result.analysis):
        _assert_no_metadata(output)
        for secret in expect.absent:
            assert secret not in output

    for point, colour in expect.pixels:
        _assert_colour(original, point, colour, expect.tolerance)
    for point, colour in expect.thumbnail_pixels:
        _assert_colour(thumbnail, point, colour, expect.tolerance)
    if expect.upright_marker:
        for image in (original, thumbnail, analysis):
            _assert_upright_marker(image)


def _assert_no_metadata(output: bytes) -> None:
    image = _open(output)
    assert len(image.getexif()) == 0
    assert not set(image.info) & set(METADATA_KEYS), image.info.keys()
    for pattern in METADATA_BYTES:
        assert pattern not in output


def _sample(image: Image.Image, point: tuple[float, float]) -> tuple[int, ...]:
    x = min(image.width - 1, int(point[0] * image.width))
    y = min(image.height - 1, int(point[1] * image.height))
    value = image.getpixel((x, y))
    assert value is not None
    return tuple(value) if isinstance(value, tuple) else (int(value),)


def _assert_colour(
    image: Image.Image, point: tuple[float, float], expected: tuple[int, ...], tolerance: int
) -> None:
    actual = _sample(image, point)
    if len(expected) in (2, 4) and expected[-1] == 0:
        # A fully transparent pixel has no colour worth comparing.
        assert actual[-1] == 0, (point, actual)
        return
    assert len(actual) == len(expected), (point, actual, expected)
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (
        point,
        actual,
        expected,
    )


def _nearest(colour: tuple[int, ...]) -> str:
    candidates = {"red": RED, "blue": BLUE, "grey": GREY}
    return min(
        candidates,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(colour, candidates[name], strict=False)),
    )


def _assert_upright_marker(image: Image.Image) -> None:
    """Red top-left, blue top-right, grey below: as a person looking at the photo sees it."""
    rgb = image.convert("RGB")
    assert rgb.width > rgb.height  # the marker image is landscape when upright
    seen = {
        quadrant: _nearest(_sample(rgb, point))
        for quadrant, point in {
            "top-left": (0.25, 0.25),
            "top-right": (0.75, 0.25),
            "bottom-left": (0.25, 0.75),
            "bottom-right": (0.75, 0.75),
        }.items()
    }
    assert seen == {
        "top-left": "red",
        "top-right": "blue",
        "bottom-left": "grey",
        "bottom-right": "grey",
    }


# --- Metadata, orientation, fidelity, sizes ---------------------------------------------------


def _rational_bytes(values: tuple[float, ...]) -> list[bytes]:
    """How these GPS seconds sit in the upload's EXIF, as rationals, in both byte orders."""
    found = []
    for value in values:
        fraction = Fraction(value).limit_denominator(1 << 31)
        for order in ("<", ">"):
            found.append(struct.pack(f"{order}II", fraction.numerator, fraction.denominator))
    return found


def test_gps_exif_xmp_iptc_and_comments_are_gone(corpus_dir: Path) -> None:
    data = (corpus_dir / "gps-xmp-iptc-comment.jpg").read_bytes()
    upload = Image.open(io.BytesIO(data))
    # The upload really carries them: GPS in EXIF, XMP, IPTC and a comment.
    gps = upload.getexif().get_ifd(0x8825)
    assert gps[1] == "N"
    assert float(gps[2][2]) == pytest.approx(GPS_LATITUDE[2])
    assert "xmp" in upload.info
    assert "comment" in upload.info
    assert b"Photoshop 3.0" in data
    gps_bytes = _rational_bytes(GPS_LATITUDE[2:] + GPS_LONGITUDE[2:])
    assert any(pattern in data for pattern in gps_bytes)

    result = _normalize(data)
    for output in (result.original, result.thumbnail, result.analysis):
        image = _open(output)
        assert len(image.getexif()) == 0
        assert image.getexif().get_ifd(0x8825) == {}
        assert not set(image.info) & set(METADATA_KEYS)
        assert b"Exif\x00\x00" not in output
        assert b"http://ns.adobe.com/xap" not in output
        assert b"bunri-secret" not in output
        for pattern in gps_bytes:
            assert pattern not in output


@pytest.mark.parametrize("orientation", [3, 6])
def test_exif_orientation_is_applied_so_the_marker_is_where_a_person_sees_it(
    orientation: int,
) -> None:
    upright = marker_image(64, 48)
    stored = stored_for_orientation(upright, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    if orientation == 6:
        assert stored.size == (48, 64)  # stored portrait, seen landscape
        # Turned 90° counter-clockwise when stored: the red quadrant sits at the bottom-left.
        assert _nearest(stored.getpixel((5, 58))) == "red"  # type: ignore[arg-type]
    else:
        assert _nearest(stored.getpixel((58, 42))) == "red"  # type: ignore[arg-type]

    result = _normalize(buffer.getvalue())

    assert (result.width, result.height) == (64, 48)
    original = _open(result.original)
    assert _nearest(original.getpixel((5, 5))) == "red"  # type: ignore[arg-type]
    assert _nearest(original.getpixel((58, 5))) == "blue"  # type: ignore[arg-type]
    assert _nearest(original.getpixel((5, 42))) == "grey"  # type: ignore[arg-type]
    assert 0x0112 not in original.getexif()


def test_a_normalized_original_looks_like_the_upload() -> None:
    upload = photo_like(800, 600)
    buffer = io.BytesIO()
    upload.save(buffer, "JPEG", quality=95)
    decoded = _open(buffer.getvalue())

    original = _open(_normalize(buffer.getvalue()).original)

    difference = ImageStat.Stat(ImageChops.difference(decoded, original)).mean
    assert max(difference) < 2.0, difference


def test_normalize_is_deterministic(corpus_dir: Path) -> None:
    for name in ("display-p3.jpg", "rgba.png", "exif-orientation-6.jpg", "photo.heic"):
        data = (corpus_dir / name).read_bytes()
        assert _normalize(data) == _normalize(data)


@pytest.mark.parametrize(
    ("size", "thumbnail"),
    [
        ((4000, 3000), (320, 240)),
        ((3000, 4000), (240, 320)),
        ((100, 50), (100, 50)),  # never enlarged
        ((1, 100_000), (1, 320)),  # never 0 px wide
        ((100_000, 1), (320, 1)),
        ((321, 1), (320, 1)),
    ],
)
def test_thumbnails_fit_the_square_and_keep_at_least_one_pixel(
    size: tuple[int, int], thumbnail: tuple[int, int]
) -> None:
    assert fit_within(size, THUMBNAIL_PX) == thumbnail


def test_a_wide_strip_gets_a_one_pixel_high_thumbnail() -> None:
    strip = Image.new("RGB", (100_000, 1), RED)
    buffer = io.BytesIO()
    strip.save(buffer, "PNG")
    result = normalize(buffer.getvalue(), max_pixels=MAX_PIXELS, thumbnail_px=64)
    assert _open(result.thumbnail).size == (64, 1)
    assert result.original_media_type == "image/png"  # 100,000 px is too wide for JPEG


def test_normalize_rechecks_the_pixel_budget() -> None:
    image = Image.new("RGB", (100, 100), RED)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    with pytest.raises(ImageTooManyPixels):
        normalize(buffer.getvalue(), max_pixels=9_999)
    assert normalize(buffer.getvalue(), max_pixels=10_000).width == 100


# --- The accept path stays fast, whatever it is fed -----------------------------------------------


def _photo_jpeg_of(target_bytes: int) -> bytes:
    upload = photo_like(1600, 1200)
    noise = Image.effect_noise(upload.size, 24).convert("RGB")
    upload = ImageChops.add(upload, noise, scale=1.2)
    quality = 80
    while True:
        buffer = io.BytesIO()
        upload.save(buffer, "JPEG", quality=quality)
        if buffer.tell() >= target_bytes or quality >= 98:
            return buffer.getvalue()
        quality += 3


def test_inspect_upload_reads_only_the_header() -> None:
    data = _photo_jpeg_of(400_000)
    assert len(data) >= 350_000
    timings = []
    for _ in range(200):
        start = time.perf_counter()
        _inspect(data)
        timings.append(time.perf_counter() - start)
    # Decoding this file takes tens of milliseconds; reading its header, well under one.
    assert statistics.median(timings) < 0.003


@pytest.mark.parametrize("name", ["fill-bytes.jpg", "many-chunks.png", "text-bomb.png"])
def test_layouts_that_make_pillow_crawl_are_refused_quickly(name: str, corpus_dir: Path) -> None:
    data = (corpus_dir / name).read_bytes()
    start = time.perf_counter()
    with pytest.raises(ImageCorrupt):
        _inspect(data)
    # Pillow alone spends 3 to 7 s on the first two, 0.2 s and 64 MB on the last.
    assert time.perf_counter() - start < 0.05


def _seeds() -> list[bytes]:
    photo = marker_image(32, 24)
    seeds = []
    for fmt, params in (
        ("JPEG", {"quality": 90}),
        ("JPEG", {"quality": 90, "progressive": True}),
        ("PNG", {}),
        ("WEBP", {"quality": 80}),
        ("WEBP", {"lossless": True}),
    ):
        buffer = io.BytesIO()
        photo.save(buffer, fmt, **params)
        seeds.append(buffer.getvalue())
    seeds.append(encode_heic(photo))
    return seeds


SEEDS = _seeds()
IMAGE_ERRORS = (ImageTooLarge, UnsupportedMediaType, ImageCorrupt, ImageTooManyPixels)


@st.composite
def _mutated_images(draw: st.DrawFn) -> bytes:
    """A valid small image with random bytes overwritten, cut short, or both."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


_FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@_FUZZ
@given(st.binary(max_size=2048))
def test_inspect_upload_raises_only_image_errors_on_random_bytes(data: bytes) -> None:
    with contextlib.suppress(*IMAGE_ERRORS):
        _inspect(data)


@_FUZZ
@given(
    st.one_of(
        _mutated_images(),
        # A valid signature and header start, then noise.
        st.tuples(st.sampled_from(SEEDS), st.binary(max_size=64)).map(lambda p: p[0][:32] + p[1]),
    )
)
def test_inspect_and_normalize_raise_only_image_errors_on_damaged_images(data: bytes) -> None:
    try:
        _inspect(data)
    except IMAGE_ERRORS:
        return
    with contextlib.suppress(*IMAGE_ERRORS):
        _normalize(data)
