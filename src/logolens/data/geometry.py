"""Small geometry helpers shared by the logo generator and the augmentations."""

from __future__ import annotations

import numpy as np


def perspective_coefficients(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """The 8 PIL ``PERSPECTIVE`` coefficients that map output points ``dst`` back to input points
    ``src`` (4 ``(x, y)`` pairs each, pixels): PIL transforms by pulling each output pixel from
    the input, so the map goes output -> input."""
    rows, rhs = [], []
    for (X, Y), (x, y) in zip(np.asarray(dst, np.float64), np.asarray(src, np.float64)):
        rows += [[X, Y, 1, 0, 0, 0, -X * x, -Y * x], [0, 0, 0, X, Y, 1, -X * y, -Y * y]]
        rhs += [x, y]
    return tuple(float(v) for v in np.linalg.solve(np.array(rows), np.array(rhs)))
