"""The README's main job: the whole recognition pipeline on generated data, no download needed.

It writes a synthetic dataset of made-up brands in the FlickrLogos-27 layout (cluttered scenes),
then trains three models on the same image-level split: the seed CNN of
the original post (from scratch), the default crop classifier, a linear head on the frozen
pretrained DINOv2 backbone (offline weights), and a logo detector for whole scenes. Each model
folder gets its training history, calibration and plots; the detector also writes annotated copies
of the validation scenes (``detector/annotated/``).
"""

from __future__ import annotations

from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.formats import load_dataset
from logolens.data.splits import split_dataset
from logolens.data.synthetic import generate_dataset
from logolens.detector import LogoDetector
from logolens.inference.batch import detect_images, write_annotated
from logolens.training.run import train_and_report, train_detector_and_report

DEMO_BRANDS = 8
DEMO_IMAGES_PER_BRAND = 30
DEFAULT_MODEL = "dinov2-s14"
DETECTOR_SETTINGS = dict(image_size=224, epochs=30)
"""The generated scenes are 320 x 240: a 16 x 16 patch grid sees their logos well, and the made-up
brands are learnt in 30 epochs (the real-data default is a 448-px canvas and up to 60 epochs)."""


def run_demo(out: str | Path = "runs/demo", epochs: int = 40, seed: int = 0, progress: bool = True, model: str = DEFAULT_MODEL) -> dict[str, dict]:
    """Generate data under ``out/data``, train into ``out/seed-cnn``, ``out/<model>`` and
    ``out/detector``; returns each run's summary by model name (the detector's as ``detector``)."""
    out = Path(out)
    data_dir = out / "data"
    generate_dataset(data_dir, n_brands=DEMO_BRANDS, images_per_brand=DEMO_IMAGES_PER_BRAND, seed=seed, progress=progress)
    dataset = load_dataset(data_dir, format="flickr27")
    source = {"path": str(data_dir.resolve()), "format": "flickr27", "images_dir": None}
    classifiers = {
        "seed-cnn": LogoClassifier(model="seed-cnn", epochs=epochs, lr=1e-3, seed=seed, progress=progress),
        model: LogoClassifier(model=model, seed=seed, progress=progress),
    }
    summaries = {
        name: train_and_report(dataset, out / name, classifier, val_fraction=0.25, data_source=source, export_onnx=True)
        for name, classifier in classifiers.items()
    }
    detector = LogoDetector(**DETECTOR_SETTINGS, seed=seed, progress=progress)
    summaries["detector"] = train_detector_and_report(dataset, out / "detector", detector, val_fraction=0.25, data_source=source)
    val_images = [record.path for record in split_dataset(dataset, 0.25, 0.0, seed).val]
    annotated = out / "detector" / "annotated"
    for result, image in detect_images(detector, val_images[:12]):
        write_annotated(image, result, annotated)
    summaries["detector"]["annotated"] = str(annotated)
    return summaries
