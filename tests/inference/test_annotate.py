"""``BoxAnnotator``: what it draws where."""

from __future__ import annotations

import numpy as np
from PIL import Image

from logolens.detections import Detections
from logolens.inference.annotate import BoxAnnotator, brand_colour


def _pixels_of(image: Image.Image, colour, rows: slice) -> int:
    band = np.asarray(image)[rows]
    return int(np.all(band == np.array(colour, np.uint8), axis=-1).sum())


def test_a_box_listed_under_two_brands_shows_both_labels_best_on_top():
    assert brand_colour("Acme") != brand_colour("Bolt")
    box = [40.0, 60.0, 160.0, 160.0]
    dets = Detections(np.array([box, box]), np.array([0.8, 0.1]), np.array([0, 1]), np.array(["Acme", "Bolt"], object))
    drawn = BoxAnnotator(thickness=2, text_size=12).annotate(Image.new("RGB", (200, 200), "white"), dets)
    alone = BoxAnnotator(thickness=2, text_size=12).annotate(Image.new("RGB", (200, 200), "white"), dets[:1])
    above, below = slice(50, 60), slice(62, 70)  # inside a 12-px font's label (some 16 px high) above the box's top, and under it
    assert _pixels_of(drawn, brand_colour("Acme"), above) > 50  # the best brand's label above the box
    assert _pixels_of(drawn, brand_colour("Bolt"), below) > 50  # the runner-up's just under it, not hidden beneath
    assert _pixels_of(alone, brand_colour("Bolt"), below) == 0
