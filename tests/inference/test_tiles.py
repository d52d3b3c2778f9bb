"""Overlapping tiles for the detector's closer look: coverage, overlap, exact mapping, cut boxes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from logolens.inference.letterbox import region_placement
from logolens.inference.tiles import MAX_SHARE, OVERLAP, cut_by_inner_edge, tile_keeps, tile_regions, tile_side
from logolens.models.preprocessing import Preprocessing


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (499, 333), (500, 500), (1200, 180), (40, 30)])
@pytest.mark.parametrize("per_side", [2, 3])
def test_tiles_cover_the_photo_and_overlap_their_neighbours(size, per_side):
    width, height = size
    regions = np.array(tile_regions(width, height, per_side))
    side = tile_side(width, height, per_side)
    assert np.allclose(regions[:, 2] - regions[:, 0], side) and np.allclose(regions[:, 3] - regions[:, 1], side)
    assert (regions == np.round(regions)).all()  # whole pixels: a cut tile maps back exactly
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in regions.astype(int):
        covered[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
    assert covered.all()
    assert side * (per_side - (per_side - 1) * OVERLAP) == pytest.approx(max(width, height), abs=1.0)  # as many as asked
    for axis, extent in ((0, width), (1, height)):
        starts = np.unique(regions[:, axis])
        if extent > side:
            assert starts[0] == 0 and starts[-1] + side == extent
            assert (np.diff(starts) <= side * (1 - OVERLAP) + 1).all()  # each pair shares at least OVERLAP of a side


def test_a_logo_smaller_than_the_overlap_lies_whole_in_some_tile():
    rng = np.random.default_rng(0)
    regions = np.array(tile_regions(640, 480, 2))
    logo = OVERLAP * tile_side(640, 480, 2) - 1
    for _ in range(200):
        x, y = rng.uniform(0, 640 - logo), rng.uniform(0, 480 - logo)
        inside = (regions[:, 0] <= x) & (regions[:, 1] <= y) & (regions[:, 2] >= x + logo) & (regions[:, 3] >= y + logo)
        assert inside.any()


def test_a_cut_tile_maps_back_to_the_photo_exactly():
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8))
    region = tile_regions(420, 300, 2)[3]  # bottom right
    side = int(region[2] - region[0])
    canvas = Preprocessing(image_size=side).crop(photo, region)  # cut at its own size: no resampling
    placement = region_placement(region, side)
    box = np.array([[300, 200, 340, 230]], np.float32)
    x1, y1, x2, y2 = placement.to_canvas(box)[0].astype(int)
    np.testing.assert_array_equal(np.asarray(canvas)[y1:y2, x1:x2], np.asarray(photo)[200:230, 300:340])
    np.testing.assert_allclose(placement.to_image(placement.to_canvas(box)), box)


def test_boxes_cut_by_an_inner_edge_are_found_but_not_those_at_the_photos_border():
    region = (214.0, 0.0, 500.0, 286.0)  # the top-right tile of a 500 x 375 photo
    boxes = np.array([
        [214, 40, 260, 80],   # on the left edge, inside the photo: cut
        [300, 250, 340, 286],  # on the bottom edge, inside the photo: cut
        [450, 0, 500, 30],    # at the photo's top and right border: whole
        [300, 100, 350, 150],  # in the middle
    ], np.float32)
    assert cut_by_inner_edge(boxes, region, 500, 375).tolist() == [True, True, False, False]


def test_tiles_add_only_small_boxes_that_no_inner_edge_cuts():
    region = (0.0, 0.0, 286.0, 286.0)  # the top-left tile of a 500 x 375 photo
    small = MAX_SHARE * 500 - 5
    boxes = np.array([
        [100, 100, 100 + small, 100 + small],  # small, inside
        [20, 20, 220, 120],                    # sqrt(w h) 141 > 0.15 x 500: the whole view's job
        [250, 100, 286, 130],                  # small, cut by the inner right edge
        [0, 0, 30, 30],                        # small, at the photo's own corner
    ], np.float32)
    assert tile_keeps(boxes, region, 500, 375).tolist() == [True, False, False, True]


def test_fewer_than_one_tile_is_refused():
    with pytest.raises(ValueError, match="tiles per side"):
        tile_regions(100, 100, 0)
