"""Scoring a saved model on a dataset, by default on the images it held out in training."""

from __future__ import annotations

import json
from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.dataset import LogoDataset
from logolens.data.formats import load_dataset
from logolens.data.splits import Split, split_dataset
from logolens.errors import ModelError
from logolens.evaluation.detection import write_detection_report
from logolens.evaluation.report import write_report
from logolens.models.storage import read_manifest

PARTS = ("train", "val", "test", "all")


def evaluate_model_dir(
    model_dir: str | Path,
    data: str | Path | None = None,
    format: str = "auto",
    images_dir: str | Path | None = None,
    part: str | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    ocr: bool = False,
) -> tuple[dict, dict[str, Path]]:
    """Score the model in ``model_dir``; returns ``(report, written files)``.

    Without ``data`` the training data recorded in the model is used and ``part`` defaults to its
    held-out images (test if the run had a test part, else validation), recomputed from the
    recorded seed and checked against ``split.json``. With other ``data``, ``part`` defaults to
    ``all``. Reports go to ``out`` (default: ``model_dir``) as ``<part>_metrics.json`` and
    ``<part>_confusion.png``. ``ocr`` (detectors calibrated for reading the photo's text only)
    scores ``detect --ocr``'s answers, written as ``<part>-ocr-metrics.json`` / ``<part>-ocr-pr.png``.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if data is None:
        data, format, images_dir = _recorded_data(model_dir, manifest)
        if part is None:
            part = "test" if manifest.get("split", {}).get("test_fraction") else "val"
    part = part or "all"
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose from: {', '.join(PARTS)}")
    dataset = load_dataset(data, format=format, images_dir=images_dir)
    selected = dataset if part == "all" else _recorded_part(model_dir, manifest, dataset, part)
    if ocr and manifest.get("task") != "detect":
        raise ValueError(f"{model_dir}: --ocr evaluates detectors (logolens train --task detect --ocr); "
                         f"for a classifier, benchmarks/ocr_flickr27.py measures it")
    if manifest.get("task") == "detect":
        from logolens.detector import LogoDetector

        detector = LogoDetector.load(model_dir)
        detector.progress = progress
        report = {**detector.evaluate(selected, ocr=ocr), "part": part, "data": str(data), "task": "detect"}
        return report, write_detection_report(report, out or model_dir, stem=f"{part}-ocr" if ocr else part)
    classifier = LogoClassifier.load(model_dir)
    classifier.progress = progress
    report, _ = classifier.evaluate(selected)
    report["part"] = part
    report["data"] = str(data)
    files = write_report(report, out or model_dir, title=f"{classifier.model} on {dataset.name} ({part})", stem=f"{part}_")
    return report, files


def _recorded_data(model_dir: Path, manifest: dict) -> tuple[str, str, str | None]:
    """``(path, format, images_dir)`` of the training data the manifest records."""
    recorded = manifest.get("data") or {}
    if not recorded.get("path"):
        raise ModelError(f"{model_dir}: the model records no training data; pass --data")
    return recorded["path"], recorded.get("format", "auto"), recorded.get("images_dir")


def recorded_split(model_dir: str | Path, data: str | Path | None = None, format: str = "auto",
                   images_dir: str | Path | None = None, parts: tuple[str, ...] = ("train", "val", "test")) -> Split:
    """The split a model was trained with: its recorded training data (or ``data``, the same images
    elsewhere) split again with the recorded fractions and seed, each of ``parts`` checked against
    ``split.json``."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if data is None:
        data, format, images_dir = _recorded_data(model_dir, manifest)
    split = _split_again(model_dir, manifest, load_dataset(data, format=format, images_dir=images_dir))
    for part in parts:
        _check_part(model_dir, split, part)
    return split


def _split_again(model_dir: Path, manifest: dict, dataset: LogoDataset) -> Split:
    recorded = manifest.get("split")
    if not recorded:
        raise ModelError(f"{model_dir}: the model records no split; use --part all")
    return split_dataset(dataset, recorded["val_fraction"], recorded["test_fraction"], recorded["seed"])


def _check_part(model_dir: Path, split: Split, part: str) -> None:
    split_file = model_dir / "split.json"
    if split_file.is_file():
        expected = json.loads(split_file.read_text(encoding="utf-8"))
        if split.to_json()[part] != expected[part]:
            raise ModelError(
                f"{split_file}: the {part} images differ from the ones recorded in training; "
                "the data has changed since — pass --part all to score all of it"
            )


def _recorded_part(model_dir: Path, manifest: dict, dataset: LogoDataset, part: str) -> LogoDataset:
    split = _split_again(model_dir, manifest, dataset)
    _check_part(model_dir, split, part)
    return split.part(part)


def training_side(model_dir: str | Path, data: str | Path | None = None, format: str = "auto",
                  images_dir: str | Path | None = None) -> LogoDataset:
    """The images a model trained on (its training and validation parts, recomputed from the
    recorded data and seed), or all of ``data`` when given."""
    if data is not None:
        read_manifest(model_dir)  # a model folder, checked before its images are read
        return load_dataset(data, format=format, images_dir=images_dir)
    split = recorded_split(model_dir, parts=("train", "val"))
    name = split.train.name.removesuffix("-train")  # split_dataset names its parts DATASET-train, ...
    return LogoDataset((*split.train, *split.val), split.train.brands, f"{name} (training side)")
