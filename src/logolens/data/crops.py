"""Logo crops: a box cut out of its photo with some surrounding context.

A little context around a logo helps recognition (the edge of a can, a shirt), and padding to a
square keeps the logo's aspect ratio when the crop is resized to a square network input. Pixels
outside the photo are filled with a neutral grey rather than stretched edge pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from logolens.data.dataset import LogoDataset

FILL = (124, 116, 104)
"""Grey (the ImageNet mean, in 0-255) painted where a crop reaches past the photo's edge."""


@dataclass(frozen=True)
class CropSample:
    """One training/evaluation example: an image, an optional box in it, and its brand.

    ``box`` is ``None`` for datasets labelled per image (folder per brand): the whole image is
    the sample.
    """

    path: Path
    box: tuple[float, float, float, float] | None
    brand: str


def crop_region(box: Sequence[float], margin: float = 0.0, square: bool = False) -> tuple[int, int, int, int]:
    """The integer ``xyxy`` region to cut for ``box``: grown by ``margin`` x its size on every side,
    then (if ``square``) to a square around the same centre. It may extend past the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {tuple(box)} has no area")
    width, height = x2 - x1, y2 - y1
    x1, x2 = x1 - margin * width, x2 + margin * width
    y1, y2 = y1 - margin * height, y2 + margin * height
    if square:
        side = max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        x1, x2, y1, y2 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
    return (int(round(x1)), int(round(y1)), max(int(round(x2)), int(round(x1)) + 1), max(int(round(y2)), int(round(y1)) + 1))


def crop_image(image: Image.Image, box: Sequence[float] | None, margin: float = 0.0, square: bool = False) -> Image.Image:
    """Cut ``box`` (or the whole image when ``None``) with context ``margin`` and optional square
    padding; parts past the image border are filled with :data:`FILL`."""
    if box is None:
        box = (0, 0, image.width, image.height)
    left, top, right, bottom = crop_region(box, margin, square)
    if left >= 0 and top >= 0 and right <= image.width and bottom <= image.height:
        return image.crop((left, top, right, bottom))
    canvas = Image.new("RGB", (right - left, bottom - top), FILL)
    inside = (max(left, 0), max(top, 0), min(right, image.width), min(bottom, image.height))
    if inside[2] > inside[0] and inside[3] > inside[1]:
        canvas.paste(image.crop(inside), (inside[0] - left, inside[1] - top))
    return canvas


def logo_samples(dataset: LogoDataset) -> list[CropSample]:
    """Every box of ``dataset`` as a sample; images labelled with exactly one brand and no boxes
    become whole-image samples. No-logo images and box-less multi-brand images give none."""
    samples = []
    for record in dataset:
        if record.boxes:
            samples += [CropSample(record.path, box.xyxy, box.brand) for box in record.boxes]
        elif len(record.brands) == 1:
            samples.append(CropSample(record.path, None, record.brands[0]))
    return samples


