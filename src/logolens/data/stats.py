"""Per-brand counts of a dataset, for ``logolens data stats``."""

from __future__ import annotations

from logolens.data.dataset import LogoDataset


def dataset_stats(dataset: LogoDataset) -> dict:
    """Totals and ``{brand: {"images": n, "boxes": n}}`` (``none`` for no-logo images)."""
    per_brand = {brand: {"images": images, "boxes": boxes} for brand, (images, boxes) in dataset.counts().items()}
    return {
        "name": dataset.name,
        "images": len(dataset),
        "boxes": dataset.n_boxes,
        "brands": len(dataset.brands),
        "no_logo_images": sum(1 for record in dataset if not record.has_logo),
        "per_brand": per_brand,
    }
