"""Test and benchmark images: scikit-image's bundled photos and frames composed from them."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image
from skimage import data

GREY = 120


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def _canvas(width: int = 640, height: int = 480) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def astronaut() -> np.ndarray:
    """Eileen Collins, smiling, 512x512: the reference happy face."""
    return data.astronaut()


def webcam_face() -> np.ndarray:
    """A 640x480 frame framed like a webcam: the astronaut's head and shoulders, face ~170 px wide."""
    return _resize(data.astronaut()[0:288, 100:484], 640, 480)


def two_faces() -> np.ndarray:
    """Two astronaut faces side by side (one mirrored) in a 640x480 frame."""
    crop = _resize(data.astronaut()[20:320, 160:460], 320, 320)
    frame = _canvas()
    frame[80:400, 0:320] = crop
    frame[80:400, 320:640] = crop[:, ::-1]
    return frame


def small_face() -> np.ndarray:
    """The whole astronaut shrunk to 230 px in a 640x480 frame: a face of ~37 px, under the minimum."""
    frame = _canvas()
    frame[100:330, 200:430] = _resize(data.astronaut(), 230, 230)
    return frame


def no_face_images() -> dict[str, np.ndarray]:
    """Photos with no human face that scikit-image ships."""
    return {
        "camera": np.stack([data.camera()] * 3, axis=-1),  # a man seen from behind-ish, face not frontal
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "chelsea": data.chelsea(),  # a cat
    }


def encode(rgb: np.ndarray, fmt: str = "JPEG", quality: int = 90) -> bytes:
    """Encode an RGB array as image bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def data_url(rgb: np.ndarray, fmt: str = "JPEG") -> str:
    """A data URL as a browser's canvas.toDataURL makes it."""
    mime = {"JPEG": "image/jpeg", "PNG": "image/png"}[fmt]
    return f"data:{mime};base64," + base64.b64encode(encode(rgb, fmt)).decode()


def decompression_bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (1-bit, highly compressible)."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
