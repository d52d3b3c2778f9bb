"""One training run, end to end: load data, split by image, fit, save, score, draw.

``logolens train``, the demo and the benchmarks all call :func:`train_and_report`, so a model
trained from any of them is laid out the same way::

    OUT/logolens.json, weights.pt     the model (see logolens.models.storage)
    OUT/split.json                    which images went where (seed recorded)
    OUT/history.csv, history.png      loss and accuracy per epoch, training and validation
    OUT/metrics.json, confusion.png   scores on the validation images
    OUT/gallery.npz                   the brand gallery: references of the trained brands, ready
                                      for 'logolens brands add' (see logolens.gallery)

A detector (:func:`train_detector_and_report`) writes the same, with ``val-metrics.json`` and
``val-pr.png`` (mAP, image-level accuracy, precision-recall curve) instead of the confusion matrix
(and ``val-ocr-metrics.json`` / ``val-ocr-pr.png`` when it was calibrated for reading the photo's
text), and its crop classifier in ``OUT/classifier/``. :func:`calibrate_detector_dir` refits a
saved detector's scores for other inference settings or for reading the photo's text
(``logolens calibrate``) and rewrites its manifest and reports the same way.
"""

from __future__ import annotations

from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.crops import logo_samples
from logolens.data.dataset import LogoDataset
from logolens.data.splits import Split, split_dataset
from logolens.detector import LogoDetector
from logolens.errors import ModelError
from logolens.evaluation.detection import write_detection_report
from logolens.evaluation.report import write_report
from logolens.evaluation.plots import plot_history
from logolens.evaluation.run import recorded_split
from logolens.gallery.enrol import gallery_cache
from logolens.gallery.folder import build_reference
from logolens.models.storage import update_manifest
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
    gallery: bool = True,
    gallery_views: int | None = None,
    gallery_ocr: bool = False,
) -> dict:
    """Split ``dataset`` by image, fit ``classifier``, write the model folder ``out`` and its reports.

    ``split_seed`` defaults to the classifier's seed. ``data_source`` (path, format) is recorded
    in the manifest so ``logolens evaluate`` can find the held-out images again. ``export_onnx``
    also writes ``model.onnx`` (checked against PyTorch). ``gallery`` writes the brand gallery's
    trained references (from the training and validation crops; ``gallery_views`` augmented views
    per crop, default :data:`logolens.gallery.enrol.VIEWS`; ``gallery_ocr`` also reads each crop's
    text, to calibrate the open set of ``--ocr``). Returns a summary with the validation metrics
    and calibration.
    """
    out = Path(out)
    split = _split(dataset, val_fraction, test_fraction, classifier.seed if split_seed is None else split_seed)
    classifier.fit(split.train, split.val if len(split.val) else None)
    classifier.save(out, extra=_run_record(split, data_source))
    _write_run_files(out, split, classifier.history_, f"{classifier.model} on {dataset.name}")
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
    if gallery:
        summary["gallery"] = write_gallery(out, split, gallery_views, classifier.cache_dir, classifier.progress, gallery_ocr)
    if len(split.val):
        report, _ = classifier.evaluate(split.val)
        write_report(report, out, title=f"{classifier.model}: validation")
        summary["val"] = {k: report[k] for k in ("n_samples", "top1_accuracy", "top5_accuracy", "macro_f1", "chance_accuracy")}
    return summary


def _split(dataset: LogoDataset, val_fraction: float, test_fraction: float, seed: int) -> Split:
    split = split_dataset(dataset, val_fraction, test_fraction, seed)
    if not len(split.train):
        raise ValueError(f"dataset {dataset.name!r} leaves no training images after the split")
    return split


def _run_record(split: Split, data_source: dict | None) -> dict:
    """What the manifest records of the run: the data source and how it was split."""
    split_json = split.to_json()
    return {"data": data_source or {}, "split": {k: split_json[k] for k in ("seed", "val_fraction", "test_fraction")}}


def write_gallery(out: Path, split: Split, views: int | None, cache_dir, progress: bool, read_text: bool = False) -> dict:
    """The trained brands' gallery references, from the training and validation crops of ``split``
    (what training writes; ``read_text`` also calibrates the open set of ``--ocr``); returns their
    open-set calibration."""
    samples = logo_samples(split.train) + logo_samples(split.val)
    reference = build_reference(out, samples, views, cache=gallery_cache(cache_dir), progress=progress, read_text=read_text)
    return {"references": len(reference), **reference.calibration.to_json()}


def _write_run_files(out: Path, split: Split, history: list[dict], title: str) -> None:
    atomic_write_json(out / "split.json", split.to_json())
    write_history_csv(history, out / "history.csv")
    plot_history(history, out / "history.png", title=title)


def train_detector_and_report(
    dataset: LogoDataset,
    out: str | Path,
    detector: LogoDetector,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    split_seed: int | None = None,
    data_source: dict | None = None,
    export_onnx: bool = False,
    gallery: bool = True,
    gallery_views: int | None = None,
    gallery_ocr: bool = False,
) -> dict:
    """The detection counterpart of :func:`train_and_report`: split by image, fit (resumable: a
    checkpoint in ``out`` lets an interrupted run continue), save, and write ``history.csv/png``
    plus a detection report (``val-metrics.json``, ``val-pr.png``; ``test-*`` when there is a
    test part, which unlike validation played no part in early stopping or calibration).
    ``export_onnx`` also writes ``model.onnx`` files (checked against PyTorch) and scores with them."""
    out = Path(out)
    split = _split(dataset, val_fraction, test_fraction, detector.seed if split_seed is None else split_seed)
    detector.fit(split.train, split.val if len(split.val) else None, checkpoint_dir=out)
    detector.save(out, extra=_run_record(split, data_source))
    _write_run_files(out, split, detector.history_, f"logo detector on {dataset.name}")
    summary = {"model_dir": str(out), "brands": len(detector.brands_), "train_images": len(split.train),
               "val_images": len(split.val), "test_images": len(split.test), "epochs": max((row["epoch"] for row in detector.history_), default=0),
               "training_phases": detector.training_phases_, "calibration": detector.calibrator_, "threshold": detector.threshold_}
    if export_onnx:
        summary["onnx"] = str(detector.export_onnx())
        detector = LogoDetector.load(out)
    if gallery:
        summary["gallery"] = write_gallery(out, split, gallery_views, detector.cache_dir, detector.progress, gallery_ocr)
    summary.update(write_detection_reports(detector, split, out))
    return summary


def write_detection_reports(detector: LogoDetector, split: Split, out: Path) -> dict:
    """Score the detector on the split's validation and test images and write their reports
    (``PART-metrics.json``, ``PART-pr.png``). A detector calibrated for reading the photo's text
    (``train --task detect --ocr``) is scored a second time as ``detect --ocr`` answers,
    ``PART-ocr-metrics.json`` / ``PART-ocr-pr.png`` (what ``evaluate --ocr`` writes), so the run
    shows what the reading bought. Returns the reports keyed ``val``, ``test``, ``val-ocr``...."""
    reports = {}
    text = detector.text_threshold_ is not None
    for part in ("val", "test"):
        if not len(split.part(part)):
            continue
        for ocr in (False, True) if text else (False,):
            stem = f"{part}-ocr" if ocr else part
            reports[stem] = detector.evaluate(split.part(part), ocr=ocr)
            write_detection_report(reports[stem], out, stem=stem)
    return reports


INFERENCE_SETTINGS = ("tiles", "refine", "refine_passes", "rescore", "brands_per_box")
"""Detector settings that change its candidates, and so its calibration, without retraining."""


def calibrate_detector_dir(
    model_dir: str | Path,
    data: str | Path | None = None,
    format: str = "auto",
    images_dir: str | Path | None = None,
    read_text: bool = False,
    settings: dict | None = None,
    cache_dir=None,
    progress: bool = False,
    reports: bool = True,
) -> dict:
    """Refit a saved detector's score calibration and no-logo threshold on its own validation images
    (the recorded split, recomputed from ``data`` when the images have moved), for new inference
    ``settings`` (:data:`INFERENCE_SETTINGS`: more refined boxes or tiles cost time and change the
    scores, so the threshold must follow) and, with ``read_text``, for ``detect --ocr`` as well.

    What training left is kept: the weights are not touched, a detector already calibrated for the
    text stays so. The manifest is replaced atomically (the previous one stays whole if this fails),
    then the validation and test reports are rewritten (``reports``), since their image-level
    numbers were at the old threshold. Returns the new calibration, settings and reports.
    """
    model_dir = Path(model_dir)
    unknown = sorted(set(settings or {}) - set(INFERENCE_SETTINGS))
    if unknown:
        raise ValueError(f"cannot change {', '.join(unknown)} without retraining; calibrate changes {', '.join(INFERENCE_SETTINGS)}")
    detector = LogoDetector.load(model_dir)
    if not detector.manifest_.get("split"):
        raise ModelError(f"{model_dir}: the detector records no training split (it was not written by 'logolens train'), so its "
                         "validation images are unknown; LogoDetector.recalibrate(images) calibrates it on images you choose")
    split = recorded_split(model_dir, data, format, images_dir, parts=("val", "test"))
    if not len(split.val):
        raise ValueError(f"{model_dir}: the detector was trained without validation images (--val-fraction 0), "
                         "and calibration must not see the images it is judged on")
    for name, value in (settings or {}).items():
        setattr(detector, name, value)
    detector.read_text = detector.read_text or read_text
    detector.cache_dir, detector.progress = cache_dir, progress
    detector.recalibrate(split.val)
    update_manifest(model_dir, {"calibration": detector.calibrator_, "settings": detector.get_params()})
    summary = {"model_dir": str(model_dir), "val_images": len(split.val), "test_images": len(split.test),
               "settings": {name: getattr(detector, name) for name in INFERENCE_SETTINGS},
               "calibration": detector.calibrator_, "threshold": detector.threshold_}
    if reports:
        summary.update(write_detection_reports(detector, split, model_dir))
    return summary
