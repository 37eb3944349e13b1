"""Photos of good-practice examples: checked by their content, cleaned, shrunk, thumbnailed.

An upload is trusted for nothing it says about itself: not its file name, not its
Content-Type. Pillow reads the header to learn the real format (JPEG or PNG only) and the
size in pixels; a file too large in bytes, one whose pixels would fill the memory when
decoded (a decompression bomb: a few kilobytes that claim 100,000 × 100,000 pixels) or one
that does not decode to the end (truncated) is refused before or while decoding, with a
message that says which. The image is then re-encoded from its pixels, so nothing of the
upload passes through unread: EXIF is rewritten without the GPS position (unless the
uploader keeps it on purpose) and without the orientation (applied to the pixels), XMP
and text chunks are dropped. Large photos are stored at most ``STORED_EDGE`` pixels on
their long side; thumbnails at most ``THUMBNAIL_EDGE``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from zugabe.errors import FieldError, InvalidInput
from zugabe.messages import Message

MAX_BYTES = 10 * 1024 * 1024
"""An upload's largest size: a camera's full-resolution JPEG fits."""
MAX_PIXELS = 50_000_000
"""Width × height: a 50-megapixel camera; decoded that is 150 MB of RGB, no more."""
STORED_EDGE = 2400
THUMBNAIL_EDGE = 360
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
GPS_IFD = 0x8825
ORIENTATION = 0x0112


@dataclass(frozen=True)
class CleanPhoto:
    image: bytes
    media_type: str
    width: int
    height: int
    thumbnail: bytes  # JPEG
    kept_location: bool


def _refuse(code: str, **params: object) -> InvalidInput:
    return InvalidInput(
        message=Message(code, dict(params)),
        field_errors=[FieldError.coded("/file", code, **params)],
    )


def clean_photo(data: bytes, *, keep_location: bool = False) -> CleanPhoto:
    """The photo re-encoded from its pixels, and its thumbnail; refused when it is not a
    whole JPEG or PNG within the limits."""
    if len(data) > MAX_BYTES:
        raise _refuse("photo.too_large", limit=MAX_BYTES // (1024 * 1024))
    if not data:
        raise _refuse("photo.not_image")
    with warnings.catch_warnings():
        # Pillow's own bomb check warns (or raises) on size alone; ours is stricter, and a
        # warning must not pass unseen.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse("photo.too_many_pixels", limit=MAX_PIXELS // 1_000_000) from None
        except UnidentifiedImageError:
            raise _refuse("photo.not_image") from None
        except OSError:
            raise _refuse("photo.broken") from None
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                raise _refuse("photo.too_many_pixels", limit=MAX_PIXELS // 1_000_000)
            media_type = FORMATS[str(image.format)]
            try:
                image.load()  # the whole file decodes, or it is truncated or broken
                exif = image.getexif()
                upright = ImageOps.exif_transpose(image)
            except (OSError, SyntaxError, ValueError):
                raise _refuse("photo.broken") from None
    kept = keep_location and GPS_IFD in exif
    if not kept:
        exif.pop(GPS_IFD, None)
    exif.pop(ORIENTATION, None)
    upright.thumbnail((STORED_EDGE, STORED_EDGE))
    stored = _encode(upright, media_type, exif.tobytes() if len(exif) else b"")
    thumb = upright.copy()
    thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    thumbnail = _encode(_flat(thumb), "image/jpeg", b"")
    return CleanPhoto(stored, media_type, upright.width, upright.height, thumbnail, kept)


def _flat(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency onto white, palettes and grey expanded."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB") if image.mode != "RGB" else image


def _encode(image: Image.Image, media_type: str, exif: bytes) -> bytes:
    out = io.BytesIO()
    if media_type == "image/jpeg":
        _flat(image).save(out, "JPEG", quality=85, optimize=True, exif=exif, xmp=b"")
    else:
        image.save(out, "PNG", optimize=True, exif=exif)
    return out.getvalue()


def demo_photo(seed: int, title: str, *, width: int = 1200, height: int = 800) -> bytes:
    """A deterministic picture for the demo town: sky, a street, a green strip and water,
    varied by ``seed`` (no camera, no randomness, the same bytes every run)."""
    from PIL import ImageDraw

    image = Image.new("RGB", (width, height), (170 + seed * 17 % 60, 200, 235))
    draw = ImageDraw.Draw(image)
    horizon = height * (5 + seed % 3) // 12
    draw.rectangle((0, horizon, width, height), fill=(120, 160 - seed * 11 % 40, 90))
    draw.polygon(
        [(width * 0.35, height), (width * 0.48, horizon), (width * 0.52, horizon),
         (width * 0.65, height)],
        fill=(95, 95, 100),
    )  # fmt: skip
    swale = height - height // 6
    draw.rectangle((0, swale, width * 0.3, height), fill=(70, 130, 190))
    for i in range(6):
        x = width * (0.72 + 0.045 * i)
        y = horizon + (i * 37 + seed * 13) % (height // 4) + height // 10
        draw.ellipse((x - 40, y - 70, x + 40, y + 10), fill=(40, 110 + i * 9 % 40, 50))
        draw.rectangle((x - 5, y + 10, x + 5, y + 60), fill=(90, 60, 30))
    draw.text((20, 20), title, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
