"""The box refiner's geometry: crops around candidates and their targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from logolens import box_refiner
from logolens.data.dataset import Box, ImageRecord
from logolens.inference.letterbox import region_placement


def test_candidate_region_is_a_square_with_context_around_the_box():
    assert box_refiner.candidate_region((10, 20, 50, 40)) == (-10.0, -10.0, 70.0, 70.0)
    x1, y1, x2, y2 = box_refiner.candidate_region((100, 100, 102, 101))
    assert x2 - x1 == y2 - y1 == box_refiner.MIN_SIDE


def test_region_placement_maps_the_region_onto_the_canvas():
    region = (40.0, 60.0, 140.0, 160.0)
    placement = region_placement(region, box_refiner.SIZE)
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
    assert len(box_refiner.training_regions(record, np.random.default_rng(3), views=2)) == 2  # LogoDetector(refine_views=2)
    for x1, y1, x2, y2 in first:
        assert x2 - x1 == pytest.approx(y2 - y1, abs=0.02)  # square, up to the rounding of the cache key
        assert x1 < 80 < x2 and y1 < 100 < y2  # the logo's centre stays inside its crop


def _centre_quarter(x):
    """A fake refiner network: in every canvas, one logo filling the middle quarter (a 56 px side
    around the centre), brand 1 of 2."""
    n, grid = x.shape[0], box_refiner.SIZE // 14
    heat = torch.full((n, grid, grid), -9.0)
    heat[:, grid // 2, grid // 2] = 3.0
    half = 28.0 / 14  # the box's half side, in patches
    ltrb = torch.full((n, 4, grid, grid), half)
    ltrb[:, :2] += 0.5  # the peak patch's centre (119 px) lies half a patch past the canvas centre (112 px)
    ltrb[:, 2:] -= 0.5
    logits = torch.zeros((n, 2, grid, grid))
    logits[:, 1] = 5.0
    return heat, ltrb, logits


def _identity_preprocessing(image, region):
    return torch.zeros(3, box_refiner.SIZE, box_refiner.SIZE)


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_each_refinement_pass_reframes_the_box_of_the_pass_before(passes):
    """A crop is twice the box's side; a network that always sees the logo in the crop's middle
    quarter halves the box each pass, around the same centre."""
    boxes, heat, probs = box_refiner.refine_boxes(_centre_quarter, _identity_preprocessing, None, np.array([[100.0, 100, 180, 180]]), passes)
    side = 80.0 / 2**passes
    np.testing.assert_allclose(boxes[0], [140 - side / 2, 140 - side / 2, 140 + side / 2, 140 + side / 2], atol=1e-3)
    assert heat[0] == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item()) and probs[0].argmax() == 1


def test_a_crop_without_a_central_peak_keeps_its_box():
    def off_centre(x):
        heat, ltrb, logits = _centre_quarter(x)
        return torch.roll(heat, shifts=(7, 7), dims=(1, 2)), ltrb, logits  # the peak in a corner

    start = np.array([[10.0, 20, 50, 60]])
    boxes, heat, probs = box_refiner.refine_boxes(off_centre, _identity_preprocessing, None, start, passes=2)
    np.testing.assert_array_equal(boxes, start)
    assert heat[0] == 0 and np.isnan(probs).all()
