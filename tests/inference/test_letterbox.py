"""Letterboxing whole images onto the detector's canvas, and mapping boxes back exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from logolens.data.crops import FILL
from logolens.inference.letterbox import letterbox, placement_for


def test_image_fills_the_canvas_top_left_and_boxes_map_back():
    image = Image.new("RGB", (500, 250), (255, 0, 0))
    canvas, placement = letterbox(image, 224)
    assert canvas.size == (224, 224) and placement.scale == pytest.approx(224 / 500)
    pixels = np.asarray(canvas)
    assert tuple(pixels[5, 5]) == (255, 0, 0) and tuple(pixels[200, 5]) == FILL  # below the image: grey
    box = np.array([[100, 50, 300, 200]], np.float32)
    np.testing.assert_allclose(placement.to_image(placement.to_canvas(box)), box, rtol=1e-6)


def test_shrunk_and_centred_view():
    placement = placement_for(400, 200, 448, fill_fraction=0.5, offset=(0.5, 0.5))
    assert placement.scale == pytest.approx(224 / 400)
    assert (placement.dx, placement.dy) == (112.0, round(0.5 * (448 - 112)))
    canvas, same = letterbox(Image.new("RGB", (400, 200)), 448, 0.5, (0.5, 0.5))
    assert same == placement
    with pytest.raises(ValueError, match="fill_fraction"):
        placement_for(10, 10, 28, fill_fraction=1.5)
