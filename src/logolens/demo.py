"""The README's main job: the whole recognition pipeline on generated data, no download needed.

It writes a synthetic dataset in the FlickrLogos-27 layout, trains the seed CNN of the original
post on its logo crops with an image-level split, scores the held-out images and draws the
training history and confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.formats import load_dataset
from logolens.data.synthetic import generate_dataset
from logolens.training.run import train_and_report

DEMO_BRANDS = 8
DEMO_IMAGES_PER_BRAND = 40


def run_demo(out: str | Path = "runs/demo", epochs: int = 40, seed: int = 0, progress: bool = True) -> dict:
    """Generate data under ``out/data``, train into ``out/model``; returns the training summary."""
    out = Path(out)
    data_dir = out / "data"
    generate_dataset(data_dir, n_brands=DEMO_BRANDS, images_per_brand=DEMO_IMAGES_PER_BRAND, seed=seed, progress=progress)
    dataset = load_dataset(data_dir, format="flickr27")
    classifier = LogoClassifier(model="seed-cnn", image_size=32, epochs=epochs, lr=1e-3, seed=seed, progress=progress)
    source = {"path": str(data_dir.resolve()), "format": "flickr27", "images_dir": None}
    return train_and_report(dataset, out / "model", classifier, val_fraction=0.25, data_source=source)
