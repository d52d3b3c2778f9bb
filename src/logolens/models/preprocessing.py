"""How a crop becomes a network input; stored with every model so inference matches training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from logolens.data.crops import crop_image


@dataclass(frozen=True)
class Preprocessing:
    """Crop, resize and normalise.

    ``margin`` is the context added around a box on each side, as a fraction of its size;
    ``square`` pads the crop to a square before resizing (keeps the logo's aspect) instead of
    squashing it (what Keras' ``flow_from_directory`` did for the seed experiment). Pixel values
    are scaled to [0, 1], then ``(x - mean) / std`` per RGB channel.
    """

    image_size: int = 32
    margin: float = 0.0
    square: bool = False
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {self.image_size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"margin must be in [0, 2], got {self.margin}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> Preprocessing:
        return cls(**payload)

    def crop(self, image: Image.Image, box: Sequence[float] | None) -> Image.Image:
        return crop_image(image, box, self.margin, self.square)

    def to_tensor(self, crop: Image.Image) -> torch.Tensor:
        """A ``(3, S, S)`` float32 tensor of an RGB crop."""
        resized = crop.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
        array = np.asarray(resized, dtype=np.float32) / 255.0  # (S, S, 3)
        array = (array - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return torch.from_numpy(array.transpose(2, 0, 1).copy())  # (3, S, S)

    def __call__(self, image: Image.Image, box: Sequence[float] | None = None) -> torch.Tensor:
        return self.to_tensor(self.crop(image, box))
