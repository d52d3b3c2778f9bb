"""Opening images safely: one clear error for every way an image file can be unusable.

Pillow reports corrupt, truncated and non-image files with several exception types; everything
here surfaces as one :class:`~logolens.errors.ImageError` naming the file, so a batch can report
it and move on. Oversized images (decompression bombs) are refused from the header alone, before
a single pixel is decoded.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from logolens.errors import ImageError

MAX_PIXELS = 64_000_000
"""Largest image (width x height) logolens decodes; bigger ones are refused as decompression bombs."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def image_size(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` from the file header alone, without decoding pixels."""
    with _open(Path(path), max_pixels) as image:
        return image.size


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``path`` fully as RGB; raises :class:`ImageError` for anything unusable."""
    path = Path(path)
    with _open(path, max_pixels) as image:
        try:
            image.load()
            return image.convert("RGB")
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(path, f"cannot decode image ({_short(error)})") from None


_PIL_LIMIT_LOCK = threading.Lock()


@contextmanager
def _header_only_limits():
    """Lift Pillow's own pixel limit while a header is parsed: logolens applies ``max_pixels``
    itself before any pixel is decoded, and Pillow's global limit would otherwise override a
    caller's larger ``max_pixels`` (with a misleading message)."""
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(path: Path, max_pixels: int) -> Image.Image:
    if not path.exists():
        raise ImageError(path, "no such file")
    if path.is_dir():
        raise ImageError(path, "is a folder, not an image")
    try:
        with _header_only_limits():
            image = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(path, "not an image file (or an unsupported format)") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(path, f"cannot read image ({_short(error)})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(path, f"image is too large ({width}x{height} px, limit {max_pixels:,} pixels)")
    if width == 0 or height == 0:
        image.close()
        raise ImageError(path, "image has zero size")
    return image


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
