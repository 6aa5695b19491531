"""Image decoding: data URLs, bare base64, and every kind of bad image."""
import base64

import pytest

from engagement.exceptions import InvalidInput, PayloadTooLarge
from engagement.images import decode_image, image_bytes_from_base64
from tests import images

MAX = 10 * 1024 * 1024


def test_data_url_and_bare_base64_decode_to_the_same_pixels():
    url = images.data_url(images.astronaut(), "PNG")
    bare = url.split(",", 1)[1]
    a = decode_image(image_bytes_from_base64(url, max_bytes=MAX), max_pixels=10**8)
    b = decode_image(image_bytes_from_base64(bare, max_bytes=MAX), max_pixels=10**8)
    assert a.shape == (512, 512, 3) and (a == b).all() and (a == images.astronaut()).all()


@pytest.mark.parametrize(
    "value, code",
    [
        (None, "no_image"),
        ("", "no_image"),
        (123, "invalid_image"),
        ("not base64 at all!", "invalid_base64"),
        ("data:image/jpeg,rawbytes", "invalid_base64"),
    ],
)
def test_bad_base64(value, code):
    with pytest.raises(InvalidInput) as info:
        image_bytes_from_base64(value, max_bytes=MAX)
    assert info.value.code == code


def test_base64_over_the_byte_limit_is_refused_before_decoding():
    with pytest.raises(PayloadTooLarge):
        image_bytes_from_base64("A" * 4000, max_bytes=1000)


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"hello, this is plain text", "not_an_image"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer <<>>\n%%EOF", "not_an_image"),
        (images.encode(images.astronaut())[:3000], "corrupt_image"),  # truncated JPEG
    ],
)
def test_not_an_image(payload, code):
    with pytest.raises(InvalidInput) as info:
        decode_image(payload, max_pixels=10**8)
    assert info.value.code == code


def test_decompression_bomb_is_refused_from_its_header():
    bomb = images.decompression_bomb_png()
    assert len(bomb) < 100_000
    with pytest.raises(InvalidInput) as info:
        decode_image(bomb, max_pixels=4096 * 4096)
    assert info.value.code == "image_too_large" and "pixels" in info.value.message


def test_image_just_over_our_pixel_limit_is_refused_before_decoding():
    png = images.encode(images.astronaut(), "PNG")  # 512 x 512
    with pytest.raises(InvalidInput) as info:
        decode_image(png, max_pixels=512 * 512 - 1)
    assert info.value.code == "image_too_large" and "512x512" in info.value.message


def test_png_with_alpha_is_converted_to_rgb():
    from PIL import Image
    import io

    buffer = io.BytesIO()
    Image.fromarray(images.astronaut()).convert("RGBA").save(buffer, format="PNG")
    assert decode_image(buffer.getvalue(), max_pixels=10**8).shape == (512, 512, 3)


def test_whitespace_in_base64_is_tolerated():
    text = base64.encodebytes(images.encode(images.astronaut())).decode()  # wrapped at 76 columns
    assert "\n" in text
    assert decode_image(image_bytes_from_base64(text, max_bytes=MAX), max_pixels=10**8).shape == (512, 512, 3)


def test_exif_orientation_is_applied():
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    Image.fromarray(images.webcam_face()).save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), max_pixels=10**8).shape == (640, 480, 3)  # was 480 x 640


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpeg_decodes_to_the_same_rgb_pixels_as_pillow(mode):
    """The fast JPEG path (OpenCV into the returned array) gives Pillow's pixels, in RGB order, colour or grey."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(images.webcam_face()).convert(mode).save(buffer, format="JPEG", quality=80)
    expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    decoded = decode_image(buffer.getvalue(), max_pixels=10**8)
    assert decoded.shape == (480, 640, 3) and decoded.dtype == np.uint8
    assert np.array_equal(decoded, expected)


def test_a_jpeg_with_bytes_after_its_end_is_still_decoded():
    """Data after the end marker sends the frame to Pillow's path, which decodes it as before."""
    jpeg = images.encode(images.astronaut()) + b"\0\0"
    assert decode_image(jpeg, max_pixels=10**8).shape == (512, 512, 3)
