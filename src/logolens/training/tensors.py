"""Turning crop samples into one in-memory tensor batch (small models, small datasets)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from logolens.data.crops import CropSample
from logolens.data.images import load_image
from logolens.models.preprocessing import Preprocessing
from logolens.progress import track
from logolens.utils import unknown_choice_message


def samples_to_tensors(
    samples: Sequence[CropSample], preprocessing: Preprocessing, brands: Sequence[str], progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: ``x`` is ``(N, 3, S, S)`` float32, ``y`` the ``(N,)`` brand indices into ``brands``.

    Each image is decoded once however many boxes it has. An unreadable image raises
    :class:`~logolens.errors.ImageError` naming it; a brand outside ``brands`` raises ``ValueError``.
    """
    index = {brand: i for i, brand in enumerate(brands)}
    by_path: dict = {}
    for position, sample in enumerate(samples):
        if sample.brand not in index:
            raise ValueError(unknown_choice_message("brand", sample.brand, brands) + f" (in {sample.path})")
        by_path.setdefault(sample.path, []).append(position)
    side = preprocessing.image_size
    x = torch.empty(len(samples), 3, side, side)
    y = torch.tensor([index[s.brand] for s in samples], dtype=torch.long)
    for path, positions in track(by_path.items(), "cropping", total=len(by_path), enabled=progress):
        image = load_image(path)
        for position in positions:
            x[position] = preprocessing(image, samples[position].box)
    return x, y
