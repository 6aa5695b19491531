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


def hopper() -> np.ndarray:
    """Grace Hopper, 512x600 (matplotlib's sample photo): another person than the astronaut, for verification."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as photo:
        return np.asarray(photo.convert("RGB"))


def webcam_hopper() -> np.ndarray:
    """A 640x480 frame framed like a webcam: Grace Hopper's head and shoulders, face ~260 px wide."""
    return _resize(hopper()[40:424], 640, 480)


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
    """A 640x480 frame with the astronaut's face about 40 px wide: found, but under the 48 px minimum."""
    return composed_face(40, "grey")


def turned_head() -> np.ndarray:
    """scikit-image's cameraman: a real face in three-quarter profile, turned well away from the lens."""
    return np.stack([data.camera()] * 3, axis=-1)


def composed_face(face_px: int, background: str = "coffee", center: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A 640x480 frame with the astronaut's head scaled so that her face is about `face_px` wide."""
    # Her face (BlazeFace's box on the 512x512 photo) is 105 px wide at (172, 68); keep a margin of hair and neck.
    x0, y0, x1, y1, margin = 172, 68, 277, 173, 84
    head = data.astronaut()[y0 - 60:y1 + margin, x0 - margin:x1 + margin]
    scale = face_px / (x1 - x0)
    head = _resize(head, max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale)))
    frame = _resize(getattr(data, background)(), 640, 480) if background != "grey" else _canvas()
    frame = np.array(frame if frame.ndim == 3 else np.stack([frame] * 3, axis=-1))
    h, w = head.shape[:2]
    top, left = max(0, center[1] - h // 2), max(0, center[0] - w // 2)
    h, w = min(h, 480 - top), min(w, 640 - left)
    frame[top:top + h, left:left + w] = head[:h, :w]
    return frame


def no_face_images() -> dict[str, np.ndarray]:
    """Photos with no human face that scikit-image ships."""
    return {
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
