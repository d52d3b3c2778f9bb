"""Augmentations suited to logos, on PIL crops.

Logos are chiral: a mirrored Adidas mark is not an Adidas mark, and mirrored text is not the
brand's wordmark. So there is deliberately no horizontal (or vertical) flip here. What varies
between photos of the same logo is kept: scale and framing, small rotation, perspective, colour
and lighting, blur, and JPEG compression.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from logolens.data.geometry import perspective_coefficients


@dataclass(frozen=True)
class LogoAugment:
    """Random logo-preserving distortions; call with a crop and a numpy ``Generator``."""

    min_scale: float = 0.65  # smallest share of the crop's area kept by the random crop
    max_rotation: float = 12.0  # degrees, either way
    max_perspective: float = 0.08  # corner shift, fraction of the side
    colour: float = 0.3  # brightness / contrast / saturation jitter, +- fraction
    blur_probability: float = 0.2
    jpeg_probability: float = 0.3

    def __call__(self, crop: Image.Image, rng: np.random.Generator) -> Image.Image:
        crop = crop.convert("RGB")
        crop = self._random_crop(crop, rng)
        if self.max_rotation:
            angle = float(rng.uniform(-self.max_rotation, self.max_rotation))
            crop = crop.rotate(angle, resample=Image.BILINEAR, expand=False, fillcolor=(124, 116, 104))
        if self.max_perspective:
            crop = self._perspective(crop, rng)
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            crop = enhancer(crop).enhance(float(rng.uniform(1 - self.colour, 1 + self.colour)))
        if rng.random() < self.blur_probability:
            crop = crop.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.5))))
        if rng.random() < self.jpeg_probability:
            buffer = io.BytesIO()
            crop.save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
            crop = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        return crop

    def _random_crop(self, crop: Image.Image, rng: np.random.Generator) -> Image.Image:
        width, height = crop.size
        scale = float(np.sqrt(rng.uniform(self.min_scale, 1.0)))
        new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
        left = int(rng.integers(0, width - new_w + 1))
        top = int(rng.integers(0, height - new_h + 1))
        return crop.crop((left, top, left + new_w, top + new_h))

    def _perspective(self, crop: Image.Image, rng: np.random.Generator) -> Image.Image:
        width, height = crop.size
        shift = self.max_perspective * np.array([width, height] * 4, dtype=np.float64)
        source = np.array([0, 0, width, 0, width, height, 0, height], dtype=np.float64)
        corners = source + rng.uniform(-1, 1, size=8) * shift
        coefficients = perspective_coefficients(corners.reshape(4, 2), source.reshape(4, 2))
        return crop.transform(crop.size, Image.PERSPECTIVE, coefficients, Image.BILINEAR, fillcolor=(124, 116, 104))
