"""Crops: exact regions, source pixels inside, FILL outside; one sample per logo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from logolens.data.crops import FILL, CropSample, crop_image, crop_region, logo_samples
from logolens.data.dataset import Box, ImageRecord, LogoDataset


@pytest.fixture(scope="module")
def noise() -> Image.Image:
    """A 100 x 60 image where every pixel differs from FILL and most from each other."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60, 100, 3), dtype=np.uint8)
    pixels[..., 0] |= 1  # red is odd, FILL's red (124) is even: no source pixel equals FILL
    return Image.fromarray(pixels, "RGB")


def check_crop(crop: Image.Image, source: Image.Image, region: tuple[int, int, int, int]) -> None:
    """Every crop pixel is the source pixel at the same place, or FILL where that lies outside."""
    left, top, right, bottom = region
    assert crop.size == (right - left, bottom - top)
    got = np.asarray(crop.convert("RGB"))
    src = np.asarray(source)
    ys, xs = np.mgrid[top:bottom, left:right]
    inside = (xs >= 0) & (xs < source.width) & (ys >= 0) & (ys < source.height)
    expected = np.empty_like(got)
    expected[:] = FILL
    expected[inside] = src[ys[inside], xs[inside]]
    assert np.array_equal(got, expected)


def test_plain_crop_is_the_box(noise):
    crop = crop_image(noise, (10, 5, 30, 25))
    assert crop.size == (20, 20)
    check_crop(crop, noise, (10, 5, 30, 25))


def test_margin_grows_every_side_by_a_share_of_the_box(noise):
    assert crop_region((20, 10, 40, 20), margin=0.5) == (10, 5, 50, 25)
    crop = crop_image(noise, (20, 10, 40, 20), margin=0.5)
    assert crop.size == (40, 20)
    check_crop(crop, noise, (10, 5, 50, 25))


def test_square_pads_the_short_side_around_the_centre(noise):
    assert crop_region((20, 10, 40, 20), square=True) == (20, 5, 40, 25)
    crop = crop_image(noise, (20, 10, 40, 20), square=True)
    assert crop.size == (20, 20)
    check_crop(crop, noise, (20, 5, 40, 25))


def test_margin_and_square_past_the_border_are_filled(noise):
    # box 20 x 10 at the top-left corner; margin 0.5 -> 40 x 20 around (10, 5); square -> 40 x 40
    region = crop_region((0, 0, 20, 10), margin=0.5, square=True)
    assert region == (-10, -15, 30, 25)
    crop = crop_image(noise, (0, 0, 20, 10), margin=0.5, square=True)
    assert crop.size == (40, 40)
    check_crop(crop, noise, region)
    pixels = np.asarray(crop)
    assert (pixels[:15] == FILL).all() and (pixels[:, :10] == FILL).all()  # above and left of the photo
    assert not (pixels[15:, 10:] == FILL).all(axis=-1).any()  # none of the photo's pixels is FILL


def test_crop_reaching_past_the_bottom_right(noise):
    crop = crop_image(noise, (90, 50, 100, 60), margin=1.0)
    check_crop(crop, noise, (80, 40, 110, 70))
    assert (np.asarray(crop)[20:] == FILL).all() and (np.asarray(crop)[:, 20:] == FILL).all()


def test_box_wholly_outside_gives_only_fill(noise):
    crop = crop_image(noise, (200, 200, 210, 205))
    assert crop.size == (10, 5)
    assert (np.asarray(crop) == FILL).all()


def test_whole_image_when_no_box(noise):
    crop = crop_image(noise, None)
    assert crop.size == noise.size
    assert np.array_equal(np.asarray(crop), np.asarray(noise))
    squared = crop_image(noise, None, square=True)  # 100 x 60 -> 100 x 100, 20 rows of FILL above and below
    assert squared.size == (100, 100)
    check_crop(squared, noise, (0, -20, 100, 80))


def test_fractional_boxes_round_to_whole_pixels(noise):
    assert crop_region((10.4, 5.6, 30.4, 25.6)) == (10, 6, 30, 26)
    crop = crop_image(noise, (10.4, 5.6, 30.4, 25.6))
    check_crop(crop, noise, (10, 6, 30, 26))


def test_tiny_box_still_gives_a_pixel(noise):
    assert crop_image(noise, (10.1, 10.1, 10.2, 10.2)).size == (1, 1)


@pytest.mark.parametrize("box", [(10, 10, 10, 20), (10, 10, 20, 10), (20, 10, 10, 20)])
def test_box_without_area_is_refused(noise, box):
    with pytest.raises(ValueError, match="has no area"):
        crop_image(noise, box)


# ------------------------------------------------------------------ samples


def test_logo_samples_one_per_box(synthetic_dataset):
    samples = logo_samples(synthetic_dataset)
    assert len(samples) == synthetic_dataset.n_boxes
    expected = [(r.path, b.xyxy, b.brand) for r in synthetic_dataset for b in r.boxes]
    assert [(s.path, s.box, s.brand) for s in samples] == expected


def test_logo_samples_by_record_kind():
    records = (
        ImageRecord(Path("boxes.jpg"), 100, 100, (Box(0, 0, 10, 10, "Acme"), Box(20, 20, 40, 40, "Bolt"), Box(50, 50, 60, 70, "Acme"))),
        ImageRecord(Path("whole.jpg"), 100, 100, brands=("Bolt",)),
        ImageRecord(Path("empty.jpg"), 100, 100),
        ImageRecord(Path("two_brands.jpg"), 100, 100, brands=("Acme", "Bolt")),
    )
    samples = logo_samples(LogoDataset(records))
    assert samples == [
        CropSample(Path("boxes.jpg"), (0, 0, 10, 10), "Acme"),
        CropSample(Path("boxes.jpg"), (20, 20, 40, 40), "Bolt"),
        CropSample(Path("boxes.jpg"), (50, 50, 60, 70), "Acme"),
        CropSample(Path("whole.jpg"), None, "Bolt"),
    ]


def test_no_logo_dataset_gives_no_samples():
    records = tuple(ImageRecord(Path(f"{i}.jpg"), 50, 50) for i in range(3))
    assert logo_samples(LogoDataset(records, brands=("Acme",))) == []
