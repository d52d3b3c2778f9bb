"""Logo-free pictures for calibrating "no logo": never a pixel of a logo box."""

from __future__ import annotations

from logolens.data.dataset import Box, ImageRecord
from logolens.data.no_logo import logo_free_region, no_logo_images


def test_the_largest_strip_beside_all_boxes():
    record = ImageRecord("photo.jpg", 400, 300, (Box(10, 10, 100, 80, "a"), Box(50, 200, 120, 290, "a")))
    assert logo_free_region(record) == (120, 0, 400, 300)  # right of every box
    crowded = ImageRecord("photo.jpg", 400, 300, (Box(0, 0, 400, 150, "a"), Box(0, 140, 400, 300, "a")))
    assert logo_free_region(crowded) is None
    assert logo_free_region(ImageRecord("empty.jpg", 64, 64)) == (0, 0, 64, 64)


def test_pictures_from_training_photos_generated_backgrounds_and_matplotlib(synthetic_dataset):
    records = list(synthetic_dataset)[:6]
    pictures = no_logo_images(records, n_generated=3, seed=0)
    names = [name for name, _ in pictures]
    assert sum("generated-background" in n for n in names) == 3
    assert any(n.endswith("grace_hopper.jpg") for n in names)
    for name, picture in pictures:
        if "#region=" in name:
            x1, y1, x2, y2 = map(int, name.split("#region=")[1].split(","))
            record = next(r for r in records if str(r.path) == name.split("#")[0])
            assert picture.size == (x2 - x1, y2 - y1)
            assert all(b.x2 <= x1 or b.x1 >= x2 or b.y2 <= y1 or b.y1 >= y2 for b in record.boxes)
