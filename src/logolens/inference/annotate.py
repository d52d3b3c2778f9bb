"""Drawing detections onto images, for people to look at.

Like supervision's annotators: the style is set once in ``__init__`` and ``annotate(image,
detections)`` returns a new image, leaving the input untouched. Each brand keeps one colour across
images (picked from its name), so a batch of annotated photos reads consistently.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageDraw

from logolens.data.brand_marks import builtin_font
from logolens.detections import Detections

PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128))


def brand_colour(brand: str) -> tuple[int, int, int]:
    return PALETTE[int(hashlib.sha256(brand.encode()).hexdigest(), 16) % len(PALETTE)]


class BoxAnnotator:
    """Boxes with a ``brand score`` label above each; line width and text scale with the image
    unless given (pixels). A box listed under several brands (a logo and its runner-up brands) gets
    its labels stacked, best first, instead of drawn over one another."""

    def __init__(self, thickness: int | None = None, text_size: int | None = None):
        self.thickness = thickness
        self.text_size = text_size

    def annotate(self, image: Image.Image, detections: Detections) -> Image.Image:
        scene = image.convert("RGB").copy()
        draw = ImageDraw.Draw(scene)
        side = max(scene.size)
        thickness = self.thickness or max(2, side // 250)
        font = builtin_font(self.text_size or max(12, side // 40))
        boxes = detections.xyxy
        stacked = [int(np.all(boxes[:i] == boxes[i], axis=1).sum()) for i in range(len(detections))]  # labels of this box before it
        for i in reversed(range(len(detections))):  # best drawn last, on top
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            colour = brand_colour(str(detections.brand[i]))
            draw.rectangle((x1, y1, x2, y2), outline=colour, width=thickness)
            label = f"{detections.brand[i]} {float(detections.score[i]):.2f}"
            left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
            height = bottom - top + 4
            y = (y1 - height if y1 - height >= 0 else y1) + stacked[i] * height
            draw.rectangle((x1, y, x1 + right - left + 6, y + height), fill=colour)
            draw.text((x1 + 3, y + 2 - top), label, fill=(255, 255, 255), font=font)
        return scene
