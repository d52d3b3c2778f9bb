"""The README's main job: the whole recognition pipeline on generated data, no download needed.

It writes a synthetic dataset of made-up brands in the FlickrLogos-27 layout, then trains two
models on the same image-level split: the seed CNN of the original post (from scratch) and the
default model, a linear head on the frozen pretrained DINOv2 backbone (offline weights). Each
model folder gets its training history, confusion matrix, calibration and an ONNX export.
"""

from __future__ import annotations

from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.formats import load_dataset
from logolens.data.synthetic import generate_dataset
from logolens.training.run import train_and_report

DEMO_BRANDS = 8
DEMO_IMAGES_PER_BRAND = 30
DEFAULT_MODEL = "dinov2-s14"


def run_demo(out: str | Path = "runs/demo", epochs: int = 40, seed: int = 0, progress: bool = True, model: str = DEFAULT_MODEL) -> dict[str, dict]:
    """Generate data under ``out/data``, train into ``out/seed-cnn`` and ``out/<model>``;
    returns each run's summary by model name."""
    out = Path(out)
    data_dir = out / "data"
    generate_dataset(data_dir, n_brands=DEMO_BRANDS, images_per_brand=DEMO_IMAGES_PER_BRAND, seed=seed, progress=progress)
    dataset = load_dataset(data_dir, format="flickr27")
    source = {"path": str(data_dir.resolve()), "format": "flickr27", "images_dir": None}
    classifiers = {
        "seed-cnn": LogoClassifier(model="seed-cnn", epochs=epochs, lr=1e-3, seed=seed, progress=progress),
        model: LogoClassifier(model=model, seed=seed, progress=progress),
    }
    return {
        name: train_and_report(dataset, out / name, classifier, val_fraction=0.25, data_source=source, export_onnx=True)
        for name, classifier in classifiers.items()
    }
