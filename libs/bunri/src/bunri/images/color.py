"""Colour normalisation: every decoded image leaves in sRGB, in one of four modes, profile-free.

The modes are RGB and L (stored as JPEG) and RGBA and LA (stored as PNG, only when some pixel is
actually transparent). Everything the accepted decoders can produce (CMYK, 16-bit grey, palettes,
1-bit, premultiplied alpha, ...) is mapped onto them.
"""

from __future__ import annotations

import functools
import io
from typing import Final

from PIL import Image, ImageCms

# Decoded modes that are shades of grey; everything else becomes RGB(A).
_GREY_MODES: Final = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SIXTEEN_BIT_GREY: Final = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
# Profile classes that describe how a device's values map to colour: the only ones to convert from.
_CONVERTIBLE_CLASSES: Final = frozenset({"mntr", "scnr", "prtr", "spac"})


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """`image` (loaded) converted to sRGB in RGB, RGBA, L or LA, with `info` emptied.

    May return `image` itself, modified in place; the caller owns it.
    """
    profile = _usable_profile(icc_profile)
    if image.mode == "CMYK":
        # CMYK needs its profile to look right; without one, Pillow's naive formula is the best bet.
        image = _convert_with_profile(image, profile, "RGB") or image.convert("RGB")
    else:
        image = _canonical_mode(image)
        if image.mode in ("RGB", "RGBA") and profile is not None and not _is_srgb(profile):
            image = _convert_with_profile(image, profile, image.mode) or image
        # Grey profiles carry only a tone curve, close to sRGB's for every common one: kept as is.
    image = _drop_opaque_alpha(image)
    # Nothing of the upload's metadata may reach an encoder: Pillow's savers fall back to `info`
    # for some of it (the PNG saver writes info["icc_profile"], the JPEG saver info["comment"]).
    image.info = {}
    return image


def _usable_profile(icc_profile: bytes | None) -> ImageCms.ImageCmsProfile | None:
    """The embedded profile, or None when absent, unreadable or of a kind we cannot convert from.

    A broken profile is damaged metadata, not a damaged image: the pixels are kept as they are.
    """
    if not icc_profile:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        device_class = profile.profile.device_class
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None
    return profile if device_class in _CONVERTIBLE_CLASSES else None


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    # Converting sRGB to sRGB changes nothing and costs about 0.3 s for 12 megapixels; most Android
    # photos carry such a profile. A profile that lies about its name only shifts colours slightly.
    return (profile.profile.profile_description or "").startswith("sRGB")


def _convert_with_profile(
    image: Image.Image, profile: ImageCms.ImageCmsProfile | None, output_mode: str
) -> Image.Image | None:
    """`image` converted from `profile` to sRGB, or None when the profile does not fit the image."""
    if profile is None:
        return None
    expected_space = "CMYK" if image.mode == "CMYK" else "RGB "
    if profile.profile.xcolor_space != expected_space:
        return None
    try:
        return ImageCms.profileToProfile(
            image,
            profile,
            _srgb(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode=output_mode,
        )
    except (OSError, ValueError, ImageCms.PyCMSError):
        return None


def _canonical_mode(image: Image.Image) -> Image.Image:
    grey = image.mode in _GREY_MODES
    if image.mode in _SIXTEEN_BIT_GREY:
        # convert("L") would clip every value above 255 to white; scale the 16-bit range instead.
        # (A 16-bit grey transparency key is rare enough to be dropped.)
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    alpha = image.has_transparency_data
    target = ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
    return image if image.mode == target else image.convert(target)


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    """Keep the alpha channel only if some pixel is not fully opaque (the original is a PNG)."""
    if image.mode not in ("RGBA", "LA"):
        return image
    lowest_alpha = image.getchannel("A").getextrema()[0]
    if isinstance(lowest_alpha, (int, float)) and lowest_alpha >= 255:
        return image.convert(image.mode[:-1])
    return image
