"""Pictures without logos, gathered without touching held-out data, to calibrate "no logo".

A detector always finds *something*; deciding that an image has no logo needs examples of images
that have none. Three sources, none of them test data: regions of the training photos that lie
outside every logo box, generated cluttered backgrounds (the synthetic scenes minus the logos),
and the sample photograph that ships with matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from logolens.data.dataset import ImageRecord
from logolens.data.images import load_image

MIN_REGION_SIDE = 64  # pixels: smaller logo-free strips say nothing about a whole image
MIN_REGION_SHARE = 0.15  # of the photo's area
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg",)  # a portrait; matplotlib's other samples include its own logo


def logo_free_region(record: ImageRecord) -> tuple[int, int, int, int] | None:
    """The largest full-width or full-height strip of ``record`` beside all its boxes (xyxy), or
    ``None`` when no strip is big enough."""
    if not record.boxes:
        return (0, 0, record.width, record.height)
    x1 = min(b.x1 for b in record.boxes)
    y1 = min(b.y1 for b in record.boxes)
    x2 = max(b.x2 for b in record.boxes)
    y2 = max(b.y2 for b in record.boxes)
    w, h = record.width, record.height
    strips = [(0, 0, int(x1), h), (int(np.ceil(x2)), 0, w, h), (0, 0, w, int(y1)), (0, int(np.ceil(y2)), w, h)]
    strips = [s for s in strips if s[2] - s[0] >= MIN_REGION_SIDE and s[3] - s[1] >= MIN_REGION_SIDE
              and (s[2] - s[0]) * (s[3] - s[1]) >= MIN_REGION_SHARE * w * h]
    return max(strips, key=lambda s: (s[2] - s[0]) * (s[3] - s[1])) if strips else None


def no_logo_images(records: Sequence[ImageRecord], n_generated: int = 20, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """``(name, image)`` pairs: logo-free regions of ``records``, ``n_generated`` backgrounds, and
    matplotlib's sample photo (when matplotlib is installed)."""
    from logolens.data.synthetic import render_background

    pictures = []
    for record in records:
        region = logo_free_region(record)
        if region is not None:
            pictures.append((f"{record.path}#region={','.join(map(str, region))}", load_image(record.path).crop(region)))
    rng = np.random.default_rng(seed)
    for index in range(n_generated):
        size = (int(rng.integers(240, 520)), int(rng.integers(200, 420)))
        pictures.append((f"generated-background-{index}", render_background(rng, size)))
    for name in MATPLOTLIB_PHOTOS:
        path = _matplotlib_sample(name)
        if path is not None:
            pictures.append((str(path), load_image(path)))
    return pictures


def _matplotlib_sample(name: str) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "sample_data" / name
    return path if path.is_file() else None
