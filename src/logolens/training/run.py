"""One training run, end to end: load data, split by image, fit, save, score, draw.

``logolens train``, the demo and the benchmarks all call :func:`train_and_report`, so a model
trained from any of them is laid out the same way::

    OUT/logolens.json, weights.pt     the model (see logolens.models.storage)
    OUT/split.json                    which images went where (seed recorded)
    OUT/history.csv, history.png      loss and accuracy per epoch, training and validation
    OUT/metrics.json, confusion.png   scores on the validation images
"""

from __future__ import annotations

from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.dataset import LogoDataset
from logolens.data.splits import split_dataset
from logolens.evaluation.report import write_report
from logolens.evaluation.plots import plot_history
from logolens.training.history import write_history_csv
from logolens.utils import atomic_write_json


def train_and_report(
    dataset: LogoDataset,
    out: str | Path,
    classifier: LogoClassifier,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    split_seed: int | None = None,
    data_source: dict | None = None,
    export_onnx: bool = False,
) -> dict:
    """Split ``dataset`` by image, fit ``classifier``, write the model folder ``out`` and its reports.

    ``split_seed`` defaults to the classifier's seed. ``data_source`` (path, format) is recorded
    in the manifest so ``logolens evaluate`` can find the held-out images again. ``export_onnx``
    also writes ``model.onnx`` (checked against PyTorch). Returns a summary with the validation
    metrics and calibration.
    """
    out = Path(out)
    split = split_dataset(dataset, val_fraction, test_fraction, classifier.seed if split_seed is None else split_seed)
    if not len(split.train):
        raise ValueError(f"dataset {dataset.name!r} leaves no training images after the split")
    classifier.fit(split.train, split.val if len(split.val) else None)
    split_json = split.to_json()
    classifier.save(out, extra={"data": data_source or {}, "split": {k: split_json[k] for k in ("seed", "val_fraction", "test_fraction")}})
    atomic_write_json(out / "split.json", split_json)
    write_history_csv(classifier.history_, out / "history.csv")
    plot_history(classifier.history_, out / "history.png", title=f"{classifier.model} on {dataset.name}")
    summary = {
        "model_dir": str(out),
        "brands": len(classifier.brands_),
        "train_images": len(split.train),
        "val_images": len(split.val),
        "test_images": len(split.test),
        "train_samples": classifier.n_train_samples_,
        "final_train_accuracy": classifier.history_[-1]["accuracy"],
        "calibration": classifier.calibration_,
    }
    if export_onnx:
        summary["onnx"] = str(classifier.export_onnx())
    if len(split.val):
        report, _ = classifier.evaluate(split.val)
        write_report(report, out, title=f"{classifier.model}: validation")
        summary["val"] = {k: report[k] for k in ("n_samples", "top1_accuracy", "top5_accuracy", "macro_f1", "chance_accuracy")}
    return summary
