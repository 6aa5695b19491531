"""Decode and validate input images (data URL, bare base64 or upload) into RGB arrays."""
from __future__ import annotations

import binascii
import io
import re
import warnings
from typing import Any, Callable

import numpy as np
import pybase64
from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import InvalidInput, PayloadTooLarge

# Formats a browser or a camera sends; anything else (PDF, SVG, TIFF...) is refused.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)


def image_bytes_from_base64(value: object, *, max_bytes: int) -> bytes:
    """Decode a data URL or bare base64 string into bytes, with clear errors."""
    if value is None or value == "":
        raise InvalidInput("No image: send 'image' as a data URL, base64 or a file upload.", code="no_image")
    if not isinstance(value, str):
        raise InvalidInput("'image' must be a string (data URL or base64).", code="invalid_image")
    match = _DATA_URL.match(value)
    if match:
        if not match.group("b64"):
            raise InvalidInput("Data URLs must be base64-encoded (';base64,').", code="invalid_base64")
        value = value[match.end():]
    # 4 base64 characters carry 3 bytes: refuse before decoding what would be too large anyway.
    if len(value) * 3 // 4 > max_bytes:
        raise PayloadTooLarge(f"Image is larger than {max_bytes} bytes.", code="image_too_large")
    try:
        # pybase64 decodes with SIMD: 60 kB in about 3 us against 160 us for the standard library, on the server's
        # thread for every live frame. Whitespace (line-wrapped base64) is allowed: stripped only when present.
        try:
            data = pybase64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            data = pybase64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("'image' is not valid base64.", code="invalid_base64") from None
    if not data:
        raise InvalidInput("No image: the base64 string is empty.", code="no_image")
    return data


# EXIF's orientation tag: a JPEG that has one other than "upright" (1) takes Pillow's path, which turns it.
_ORIENTATION = 0x0112


def _jpeg_decode(image: Image.Image, data: bytes) -> np.ndarray | None:
    """A whole, upright RGB or grey JPEG decoded by OpenCV straight into RGB; None where Pillow must decode it.

    Both use libjpeg-turbo and give the same pixels, but OpenCV decodes into the array it returns, where Pillow
    decodes into its own buffer and then copies it into one (4x the CPU for a 640x480 webcam frame). A file
    without its end marker (truncated) goes to Pillow, which refuses it.
    """
    if image.format != "JPEG" or image.mode not in ("RGB", "L") or not data.endswith(b"\xff\xd9"):
        return None
    if image.getexif().get(_ORIENTATION, 1) != 1:
        return None
    import cv2  # the bundled engine's library; imported here only when a JPEG comes

    rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    return rgb if rgb is not None and rgb.shape[:2] == (image.height, image.width) else None


def image_header_check(data: bytes, *, max_pixels: int, reserve: Callable[[int], None] | None = None) -> None:
    """Read only the image's header and refuse it as decode_image would (format, pixels), reserving its pixels.

    For a frame decoded in another process: the errors and the account's pixels stay with the one who asked.
    """
    _with_decode_errors(lambda: _header_read(data, max_pixels, reserve))


def _header_read(data: bytes, max_pixels: int, reserve: Callable[[int], None] | None) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    width, height = image.size
    # Only the header has been read so far: a decompression bomb stops here.
    if width * height > max_pixels:
        raise InvalidInput(f"Image is {width}x{height} pixels; the limit is {max_pixels} pixels.",
                           code="image_too_large")
    if reserve is not None:
        reserve(width * height)
    return image


def decode_image(data: bytes, *, max_pixels: int, reserve: Callable[[int], None] | None = None) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array, checking the pixel count before decoding.

    `reserve(pixels)` is called with the size read from the header, before decoding; it may refuse by raising.
    """
    return _with_decode_errors(lambda: _decode(data, max_pixels, reserve))


def _decode(data: bytes, max_pixels: int, reserve: Callable[[int], None] | None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _header_read(data, max_pixels, reserve)
        fast = _jpeg_decode(image, data)
        if fast is not None:
            return fast
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # photos from phones; in place: no copy of a frame
        if image.mode != "RGB":
            image = image.convert("RGB")
    return np.asarray(image)


def _with_decode_errors(read: Callable[[], Any]) -> Any:
    """Run `read`, turning what Pillow and OpenCV raise on bad images into InvalidInput."""
    try:
        return read()
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fires in Image.open for sizes far over its default limit.
        raise InvalidInput(f"Image has too many pixels: {exc}", code="image_too_large") from None
    except UnidentifiedImageError:
        raise InvalidInput(
            f"Not an image, or not a supported format ({', '.join(ACCEPTED_FORMATS)}).", code="not_an_image"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"The image is corrupt or truncated: {exc}", code="corrupt_image") from None
