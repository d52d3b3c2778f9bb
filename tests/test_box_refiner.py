"""The box refiner's geometry: crops around candidates and their targets."""

from __future__ import annotations

import numpy as np
import pytest

from logolens import box_refiner
from logolens.data.dataset import Box, ImageRecord


def test_candidate_region_is_a_square_with_context_around_the_box():
    assert box_refiner.candidate_region((10, 20, 50, 40)) == (-10.0, -10.0, 70.0, 70.0)
    x1, y1, x2, y2 = box_refiner.candidate_region((100, 100, 102, 101))
    assert x2 - x1 == y2 - y1 == box_refiner.MIN_SIDE


def test_region_placement_maps_the_region_onto_the_canvas():
    region = (40.0, 60.0, 140.0, 160.0)
    placement = box_refiner.region_placement(region)
    np.testing.assert_allclose(placement.to_canvas(np.array([region]))[0], [0, 0, box_refiner.SIZE, box_refiner.SIZE], atol=1e-4)
    box = np.array([[60.0, 80.0, 100.0, 120.0]])
    np.testing.assert_allclose(placement.to_image(placement.to_canvas(box)), box, atol=1e-4)


def test_region_targets_keep_boxes_centred_in_the_region():
    record = ImageRecord("x.jpg", 400, 300, (Box(60, 80, 100, 120, "a"), Box(300, 200, 340, 240, "b")))
    targets = box_refiner.region_targets(record, (40.0, 60.0, 140.0, 160.0), {"a": 0, "b": 1}, grid=16)
    assert int((targets.heat == 1).sum()) == 1 and set(targets.brand.unique().tolist()) == {-1, 0}


def test_training_regions_are_jittered_but_reproducible():
    record = ImageRecord("x.jpg", 400, 300, (Box(60, 80, 100, 120, "a"),))
    first = box_refiner.training_regions(record, np.random.default_rng(3))
    assert first == box_refiner.training_regions(record, np.random.default_rng(3))
    assert len(first) == box_refiner.TRAIN_VIEWS and first[0] != first[1]
    for x1, y1, x2, y2 in first:
        assert x2 - x1 == pytest.approx(y2 - y1, abs=0.02)  # square, up to the rounding of the cache key
        assert x1 < 80 < x2 and y1 < 100 < y2  # the logo's centre stays inside its crop
