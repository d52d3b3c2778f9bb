"""Opening images: every unusable file is one ImageError that names it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from logolens.data.images import MAX_PIXELS, image_size, is_image_file, load_image
from logolens.errors import DataError, ImageError
from conftest import png_declaring


def encoded(format: str, size=(48, 32)) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=format)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_names(error: pytest.ExceptionInfo, path: Path, reason: str) -> None:
    assert isinstance(error.value, DataError) and isinstance(error.value, ValueError)
    assert str(error.value).startswith(f"{path}: ")
    assert reason in str(error.value)
    assert error.value.path == path
    assert "\n" not in str(error.value)


def test_good_png_loads_as_rgb(tmp_path):
    path = write(tmp_path / "ok.png", encoded("PNG"))
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (48, 32)
    assert image_size(path) == (48, 32)
    with Image.open(path) as original:
        assert np.array_equal(np.asarray(image), np.asarray(original.convert("RGB")))


def test_grey_and_palette_images_become_rgb(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (5, 4), 77).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and np.asarray(image)[0, 0].tolist() == [77, 77, 77]


@pytest.mark.parametrize("function", [load_image, image_size])
def test_missing_file(tmp_path, function):
    path = tmp_path / "missing.jpg"
    with pytest.raises(ImageError) as error:
        function(path)
    assert_names(error, path, "no such file")


@pytest.mark.parametrize("function", [load_image, image_size])
def test_folder(tmp_path, function):
    path = tmp_path / "album.jpg"
    path.mkdir()
    with pytest.raises(ImageError) as error:
        function(path)
    assert_names(error, path, "is a folder")


@pytest.mark.parametrize("function", [load_image, image_size])
@pytest.mark.parametrize("content", [b"just some text, not pixels\n", b""], ids=["text", "empty"])
def test_not_an_image(tmp_path, function, content):
    path = write(tmp_path / "notes.jpg", content)
    with pytest.raises(ImageError) as error:
        function(path)
    assert_names(error, path, "not an image file")


def test_truncated_png_fails_to_decode(tmp_path):
    data = encoded("PNG")
    path = write(tmp_path / "cut.png", data[: len(data) // 2])
    assert image_size(path) == (48, 32)  # the header alone is fine
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_names(error, path, "cannot decode image")


def test_truncated_jpeg(tmp_path):
    data = encoded("JPEG", size=(64, 64))
    path = write(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_names(error, path, "")
    assert "cannot read image" in str(error.value) or "cannot decode image" in str(error.value)


def test_corrupt_pixel_data(tmp_path):
    data = bytearray(encoded("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = b"\xff" * 40  # garble the compressed pixels
    path = write(tmp_path / "garbled.png", bytes(data))
    with pytest.raises(ImageError) as error:
        load_image(path)
    assert_names(error, path, "cannot decode image")


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (10_000, 10_000), (9_000, 8_000)])
@pytest.mark.parametrize("function", [load_image, image_size])
def test_decompression_bomb_is_refused(tmp_path, function, width, height):
    assert width * height > MAX_PIXELS
    path = write(tmp_path / "bomb.png", png_declaring(width, height))
    assert path.stat().st_size < 200
    with pytest.raises(ImageError) as error:
        function(path)
    assert_names(error, path, "too large")


def test_max_pixels_limit(tmp_path):
    path = write(tmp_path / "ok.png", encoded("PNG"))  # 48 x 32 = 1536 pixels
    assert image_size(path, max_pixels=1536) == (48, 32)
    with pytest.raises(ImageError) as error:
        load_image(path, max_pixels=1535)
    assert_names(error, path, "48x32 px, limit 1,535 pixels")


def test_max_pixels_above_pillows_limit_is_honoured(tmp_path):
    path = write(tmp_path / "big.png", png_declaring(10_000, 10_000))  # 100M pixels, header only
    assert image_size(path, max_pixels=200_000_000) == (10_000, 10_000)


def test_is_image_file(tmp_path):
    write(tmp_path / "a.JPG", b"x")
    write(tmp_path / ".hidden.jpg", b"x")
    write(tmp_path / "notes.txt", b"x")
    (tmp_path / "folder.png").mkdir()
    assert [p.name for p in sorted(tmp_path.iterdir()) if is_image_file(p)] == ["a.JPG"]
