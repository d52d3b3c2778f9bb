"""The README's main job: the whole recognition pipeline on generated data, no download needed.

It writes a synthetic dataset of made-up brands in the FlickrLogos-27 layout (cluttered scenes),
then trains three models on the same image-level split: the seed CNN of
the original post (from scratch), the default crop classifier, a linear head on the frozen
pretrained DINOv2 backbone (offline weights), and a logo detector for whole scenes. Each model
folder gets its training history, calibration and plots; the detector also writes annotated copies
of the validation scenes (``detector/annotated/``). Finally two more made-up brands are generated
(``new-brands/``): one is enrolled into the default classifier's gallery from 3 examples, the other
stays unknown, and both are recognised alongside the trained brands.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from logolens.classifier import LogoClassifier
from logolens.data.dataset import LogoDataset
from logolens.data.formats import load_dataset
from logolens.data.splits import split_dataset
from logolens.data.synthetic import generate_dataset
from logolens.detector import LogoDetector
from logolens.gallery.folder import enrol_brand
from logolens.inference.batch import AnnotatedCopies, detect_images
from logolens.recognition import BrandRecognizer
from logolens.training.run import train_and_report, train_detector_and_report

DEMO_BRANDS = 8
DEMO_IMAGES_PER_BRAND = 30
DEFAULT_MODEL = "dinov2-s14"
ENROL_EXAMPLES = 3
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
    copies = AnnotatedCopies(annotated)
    for result, image in detect_images(detector, val_images[:12]):
        copies.write(image, result)
    summaries["detector"]["annotated"] = str(annotated)
    summaries["fewshot"] = fewshot_demo(out / model, out / "new-brands", dataset, split_dataset(dataset, 0.25, 0.0, seed).val, seed, progress)
    return summaries


def fewshot_demo(model_dir: Path, data_dir: Path, trained: LogoDataset, val: LogoDataset, seed: int, progress: bool) -> dict:
    """Enrol a new generated brand from :data:`ENROL_EXAMPLES` crops, keep another unknown, and
    recognise their other crops and the validation crops of the trained brands."""
    new_data = generate_dataset(data_dir, n_brands=2, images_per_brand=8, seed=seed + 1, progress=progress)
    new, unknown = (b for b in new_data.brands)
    if {new, unknown} & set(trained.brands):
        raise ValueError(f"generated new brands {new!r}, {unknown!r} clash with trained ones; use another seed")
    scenes = [r for r in new_data if r.primary_brand == new]
    examples = scenes[:ENROL_EXAMPLES]
    started = time.perf_counter()
    enrol_brand(model_dir, new, [r.path for r in examples], [next(b.xyxy for b in r.boxes if b.brand == new) for r in examples])
    seconds = time.perf_counter() - started
    crops = [(r.path, b.xyxy, b.brand) for r in (*new_data, *val) if r not in examples for b in r.boxes]
    result = BrandRecognizer.load(model_dir).recognise([p for p, _, _ in crops], [b for _, b, _ in crops])
    said = np.array([result.predictions(i, 1)[0].brand for i in range(len(crops))])
    truth = np.array([brand for _, _, brand in crops])
    return {"brand": new, "unknown_brand": unknown, "examples": ENROL_EXAMPLES, "enrol_seconds": seconds,
            "new_top1": float(np.mean(said[truth == new] == new)), "new_crops": int(np.sum(truth == new)),
            "unknown_rejected": float(np.mean(said[truth == unknown] == "unknown")), "unknown_crops": int(np.sum(truth == unknown)),
            "trained_top1": float(np.mean((said == truth)[~np.isin(truth, [new, unknown])]))}
