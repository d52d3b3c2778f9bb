"""Whole images to the detector's square canvas, and canvas boxes back to image pixels.

The image is scaled to fit (aspect kept) and pasted at ``offset`` (top-left by default); the
rest of the canvas is the neutral grey crops use past an image's edge. So a canvas point is
``image point * scale + offset``: one scale for both axes, which keeps logos undistorted and
makes mapping boxes back exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from logolens.data.crops import FILL


@dataclass(frozen=True)
class Placement:
    """Where an image sits on a canvas: ``canvas = image * scale + (dx, dy)``, in pixels."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0

    def to_canvas(self, xyxy: np.ndarray) -> np.ndarray:
        offset = np.array([self.dx, self.dy, self.dx, self.dy], dtype=np.float32)
        return np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) * self.scale + offset

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        offset = np.array([self.dx, self.dy, self.dx, self.dy], dtype=np.float32)
        return (np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) - offset) / self.scale


def placement_for(width: int, height: int, size: int, fill_fraction: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)) -> Placement:
    """Where :func:`letterbox` puts a ``width`` x ``height`` image, computed without the pixels."""
    if not 0.0 < fill_fraction <= 1.0:
        raise ValueError(f"fill_fraction must be in (0, 1], got {fill_fraction}")
    scale = fill_fraction * size / max(width, height)
    resized = max(1, round(width * scale)), max(1, round(height * scale))
    return Placement(scale, float(round(offset[0] * (size - resized[0]))), float(round(offset[1] * (size - resized[1]))))


def region_placement(region: Sequence[float], size: int) -> Placement:
    """Where a square ``region`` of an image (x1, y1, x2, y2 in its pixels; it may reach past the
    edges) lands when cut and resized to a ``size`` x ``size`` canvas: it fills the canvas exactly."""
    scale = size / (region[2] - region[0])
    return Placement(scale, -region[0] * scale, -region[1] * scale)


def letterbox(image: Image.Image, size: int, fill_fraction: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)) -> tuple[Image.Image, Placement]:
    """``image`` scaled so its longest side is ``fill_fraction * size`` and pasted at ``offset``
    (a fraction of the free space, 0..1 per axis) on a ``size`` x ``size`` grey canvas."""
    placement = placement_for(image.width, image.height, size, fill_fraction, offset)
    resized = max(1, round(image.width * placement.scale)), max(1, round(image.height * placement.scale))
    canvas = Image.new("RGB", (size, size), FILL)
    canvas.paste(image.convert("RGB").resize(resized, Image.BILINEAR), (int(placement.dx), int(placement.dy)))
    return canvas, placement
