"""Shared by the scripts that train the seed-0 detector of ``detect_flickr27.py`` again with one
setting changed (``detect_dropout_flickr27.py``, ``detect_heads_flickr27.py``): train or reuse
each variant, score it on the same test images and generated backgrounds, and tabulate.

Each variant is scored at its own calibrated no-logo threshold (the main table's columns) and at a
few fixed ``--min-score`` values, since the calibrated threshold is fitted on about a hundred
validation photos and moves between models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from detect_flickr27 import table_values
from results import markdown_table

from logolens.detector import LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS, detection_report

MIN_SCORES = (0.15, 0.2, 0.25, 0.3)  # fixed --min-score values compared across models


def trained_or_loaded(folder: Path, make: Callable[[], LogoDetector], inner, reuse: bool) -> tuple[LogoDetector, float | None]:
    """The detector in ``folder`` when ``reuse`` and it is there, else ``make()`` trained on the
    inner split (resumable in ``folder``) and saved there; with its recorded training seconds."""
    if reuse and (folder / "logolens.json").is_file():
        detector = LogoDetector.load(folder, runtime="torch")
        return detector, detector.manifest_.get("training_seconds")
    started = time.perf_counter()
    detector = make()
    detector.fit(inner.train, inner.val, checkpoint_dir=folder)
    seconds = time.perf_counter() - started
    detector.save(folder, extra={"training_seconds": round(seconds, 1)})
    return detector, seconds


def variant_rows(label: str, detector: LogoDetector, seconds: float | None, test, backgrounds) -> tuple[list[str], list[str]]:
    """One row of each table (:func:`variant_tables`) for ``detector``, printed as they come."""
    predictions = [detector.detect(r.path, min_score=0.0) for r in test]
    report = detection_report(list(test), predictions, detector.brands_, detector.threshold_)
    top_background = np.array([max([0.0, *detector.detect(p, min_score=0.0).score]) for p in backgrounds])
    values = table_values(report, float(np.mean(top_background >= detector.threshold_)))
    row = [label, *(f"{v:.3f}" for v in (*values[:4], values[5], *values[7:])), f"{detector.threshold_:.2f}",
           "unknown" if seconds is None else f"{seconds:.0f}"]
    fixed = [detection_report(list(test), predictions, detector.brands_, t)["image_level"]["accuracy"] for t in MIN_SCORES]
    point = [label, *(f"{a:.3f} / {np.mean(top_background >= t):.3f}" for a, t in zip(fixed, MIN_SCORES))]
    print(" | ".join(row), " | ".join(point), sep="\n", flush=True)
    return row, point


def variant_tables(setting: str, rows: list[list[str]], points: list[list[str]]) -> tuple[str, str]:
    """The table at each model's calibrated threshold, and image accuracy / false alarms at ``MIN_SCORES``."""
    table = markdown_table([setting, "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision", "false alarms (generated backgrounds)",
                            *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "threshold", "training s"], rows)
    fixed_table = markdown_table([setting, *(f"--min-score {t:g}" for t in MIN_SCORES)], points)
    print(table, fixed_table, sep="\n\n")
    return table, fixed_table
