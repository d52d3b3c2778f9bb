"""Overlapping square tiles of a photo: a closer look for logos too small for the whole view.

On the detector's 448-px canvas a 500-px photo gets one patch per ~16 pixels, so a logo under a
tenth of the photo's side spans two or three patches and the head rarely marks it (FlickrLogos-27
recall under 5 % for those). ``n`` tiles per side, each overlapping its neighbour by
:data:`OVERLAP` of its side, show the same photo about ``n - (n - 1) * OVERLAP`` times larger.
A tile is a square region of the photo in pixels (it may reach past a short side, where crops are
filled grey); its detections map back to the photo exactly, like the box refiner's regions.

A logo cut by a tile's edge gives a truncated box there; :func:`cut_by_inner_edge` finds such
boxes on the edges that lie inside the photo (the overlap shows the same logo whole in the
neighbouring tile, or the whole view sees it, when it is larger than the overlap). Tiles only add
small boxes (:func:`tile_keeps`): larger logos the whole view finds well, and on FlickrLogos-27
the tiles' own large candidates, mostly parts of bigger things, crowded the right ones out of the
few that are refined and re-scored.
"""

from __future__ import annotations

import math

import numpy as np

OVERLAP = 0.25  # fraction of a tile's side shared with its neighbour
EDGE_MARGIN = 0.01  # a box within this fraction of the tile's side from an inner edge touches it
MAX_SHARE = 0.15  # tiles add only boxes whose side sqrt(w h) is under this fraction of the photo's longest side


def tile_side(width: int, height: int, per_side: int) -> float:
    """The side of the square tiles, in photo pixels: ``per_side`` of them, overlapping by
    :data:`OVERLAP`, span the photo's longest side."""
    if per_side < 1:
        raise ValueError(f"tiles per side must be >= 1, got {per_side}")
    return float(round(max(width, height) / (per_side - (per_side - 1) * OVERLAP)))


def _starts(extent: float, side: float) -> list[float]:
    """Tile origins along one axis: evenly spaced from 0 to ``extent - side``, as few as keep
    neighbours overlapping by at least :data:`OVERLAP`."""
    if extent <= side:
        return [float(round((extent - side) / 2))]  # one tile, centred: the grey margin is split evenly
    count = math.ceil((extent - side) / (side * (1 - OVERLAP)) - 0.02) + 1  # slack for the rounded side
    return [float(round(v)) for v in np.linspace(0.0, extent - side, count)]


def tile_regions(width: int, height: int, per_side: int) -> list[tuple[float, float, float, float]]:
    """Square tiles (x1, y1, x2, y2 in whole photo pixels, so a tile cut from the photo maps back
    exactly) covering a ``width`` x ``height`` photo, row by row; 1 per side is the whole photo
    as one square."""
    side = tile_side(width, height, per_side)
    return [(x, y, x + side, y + side) for y in _starts(height, side) for x in _starts(width, side)]


def cut_by_inner_edge(boxes: np.ndarray, region: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Which ``boxes`` (N, 4; photo pixels) found in tile ``region`` touch one of its edges that
    lies inside the photo, where a logo may continue beyond the tile."""
    x1, y1, x2, y2 = region
    margin = EDGE_MARGIN * (x2 - x1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    touches = np.zeros(len(boxes), bool)
    if x1 > 0:
        touches |= boxes[:, 0] <= x1 + margin
    if y1 > 0:
        touches |= boxes[:, 1] <= y1 + margin
    if x2 < width:
        touches |= boxes[:, 2] >= x2 - margin
    if y2 < height:
        touches |= boxes[:, 3] >= y2 - margin
    return touches


def tile_keeps(boxes: np.ndarray, region: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Which ``boxes`` (N, 4; photo pixels) found in tile ``region`` it adds to the whole view's:
    small ones (under :data:`MAX_SHARE` of the photo's longest side) that no inner edge cuts."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    return (side < MAX_SHARE * max(width, height)) & ~cut_by_inner_edge(boxes, region, width, height)
