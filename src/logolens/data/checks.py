"""Checks every annotation loader shares: reading lines, finding images, fitting boxes.

They keep one policy across formats: a malformed line or missing image is an error naming the file
and line; an unreadable image is skipped with a warning; a box slightly outside its image is
clipped with a warning, one mostly outside is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from logolens.data.dataset import Box
from logolens.data.images import image_size
from logolens.errors import DataError, ImageError, LogolensWarning

MIN_INSIDE_FRACTION = 0.5
"""A box partly outside its image is clipped (with a warning) when at least this share of its area
lies inside; a box mostly or wholly outside the image is an annotation error."""


def read_lines(path: Path, tab_separated: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for each non-blank, non-comment line (1-based numbers)."""
    if not path.is_file():
        raise DataError(path, "annotation file not found" if not path.exists() else "is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a UTF-8 text file (byte {error.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield number, (line.strip().split("\t") if tab_separated else line.split())


def size_or_warn(image: Path, where: str | Path | None = None) -> tuple[int, int] | None:
    """``(width, height)`` of an existing image, or ``None`` with a warning if it is unreadable.

    ``where`` (an annotation ``file:line``, a box file; default none) prefixes the warning.
    """
    try:
        return image_size(image)
    except ImageError as error:
        prefix = f"{where}: " if where is not None else ""
        warnings.warn(f"{prefix}image skipped: {error}", LogolensWarning, stacklevel=3)
        return None


def size_or_skip(image: Path, annotation: Path, number: int) -> tuple[int, int] | None:
    """Size of ``image`` listed at ``annotation:number``: an error if it is missing, ``None``
    (with a warning) if it is unreadable."""
    if not image.exists():
        raise DataError(annotation, f"image {image.name!r} not found in {image.parent}", number)
    return size_or_warn(image, f"{annotation}:{number}")


def fit_box(box: Box, size: tuple[int, int], source: Path, line: int | None = None, label: str = "") -> Box:
    """``box`` clipped to an image of ``size`` (width, height), with a warning, or a
    :class:`DataError` at ``source:line`` if it lies mostly outside. ``label`` prefixes the
    messages (``"of 123.jpg"``, ``"annotation id 7"``) where a line number alone is not enough."""
    width, height = size
    x1, y1 = max(box.x1, 0.0), max(box.y1, 0.0)
    x2, y2 = min(box.x2, float(width)), min(box.y2, float(height))
    if (x1, y1, x2, y2) == box.xyxy:
        return box
    what = f"{label}: box {box.xyxy}" if label else f"box {box.xyxy}"
    inside = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    if inside < MIN_INSIDE_FRACTION * box.area:
        raise DataError(source, f"{what} lies outside the {width}x{height} image", line)
    where = f"{source}:{line}" if line is not None else str(source)
    warnings.warn(f"{where}: {what} clipped to the {width}x{height} image", LogolensWarning, stacklevel=3)
    return Box(x1, y1, x2, y2, box.brand)
