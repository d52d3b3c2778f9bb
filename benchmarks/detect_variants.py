"""Shared by the scripts that train the seed-0 detector of ``detect_flickr27.py`` again with one
setting changed (``detect_dropout_flickr27.py``, ``detect_heads_flickr27.py``, ``detect_training_flickr27.py``;
each trains or reuses its variants with ``detect_flickr27.trained_or_loaded``): their shared options
and set-up, each variant scored on the same test images and generated backgrounds, and tabulated.

Each variant is scored at its own calibrated no-logo threshold (the main table's columns) and at a
few fixed ``--min-score`` values, since the calibrated threshold is fitted on about a hundred
validation photos and moves between models.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from detect_flickr27 import background_pictures, seed0_splits, table_values, trained_or_loaded
from results import benchmark_parser, markdown_table

from logolens.detector import LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS, detection_report

MIN_SCORES = (0.15, 0.2, 0.25, 0.3)  # fixed --min-score values compared across models


def variant_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The options every variant script shares: ``--data``, ``--out`` (default ``out``), ``--cache-dir``, ``--reuse-models``."""
    parser = benchmark_parser(doc, seeds=False)
    parser.add_argument("--out", default=out)
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    parser.add_argument("--reuse-models", action="store_true", help="score the detectors an earlier run left in --out")
    return parser


def seed0_material(data: str | None) -> tuple[object, object, list]:
    """Seed 0's outer split (its test images: ``outer.val``), inner split (to train on) and the
    generated backgrounds false alarms are counted on; torch on 2 threads, as every benchmark."""
    torch.set_num_threads(2)
    outer, inner = seed0_splits(data)
    return outer, inner, background_pictures()


def one_setting_rows(args: argparse.Namespace, setting: str, values: Sequence, folder_prefix: str,
                     label=str) -> tuple[list[list[str]], list[list[str]], int]:
    """Train (or, with ``--reuse-models``, load from ``--out/<folder_prefix><value>``) the seed-0 detector
    with ``LogoDetector`` setting ``setting`` (also a field of its network's config) at each of ``values``,
    the rest at the defaults, then score each (:func:`variant_rows`, first cell ``label(value)``). All are
    trained before any is scored, so scoring never fills an empty ``--cache-dir`` before a training
    run is timed. Returns the rows of both tables and the number of test images."""
    outer, inner, backgrounds = seed0_material(args.data)
    detectors = []
    for value in values:
        detector, seconds = trained_or_loaded(Path(args.out) / f"{folder_prefix}{value}",
                                              lambda: LogoDetector(**{setting: value}, seed=0, cache_dir=args.cache_dir, progress=True),
                                              inner, args.reuse_models)
        assert getattr(detector, setting) == value == getattr(detector.network.config, setting), (setting, value, getattr(detector, setting))
        detectors.append((value, detector, seconds))
    rows, points = [], []
    for value, detector, seconds in detectors:
        row, point = variant_rows(label(value), detector, seconds, outer.val, backgrounds)
        rows.append(row)
        points.append(point)
    return rows, points, len(outer.val)


def variant_rows(label: str, detector: LogoDetector, seconds: str, test, backgrounds) -> tuple[list[str], list[str]]:
    """One row of each table (:func:`variant_tables`) for ``detector``, printed as they come."""
    predictions = [detector.detect(r.path, min_score=0.0) for r in test]
    report = detection_report(list(test), predictions, detector.brands_, detector.threshold_)
    top_background = np.array([max([0.0, *detector.detect(p, min_score=0.0).score]) for p in backgrounds])
    values = table_values(report, float(np.mean(top_background >= detector.threshold_)))
    row = [label, *(f"{v:.3f}" for v in (*values[:4], values[5], *values[7:])), f"{detector.threshold_:.2f}",
           seconds]
    fixed = [detection_report(list(test), predictions, detector.brands_, t)["image_level"]["accuracy"] for t in MIN_SCORES]
    point = [label, *(f"{a:.3f} / {np.mean(top_background >= t):.3f}" for a, t in zip(fixed, MIN_SCORES))]
    print(" | ".join(row), " | ".join(point), sep="\n", flush=True)
    return row, point


def variant_tables(setting: str | list[str], rows: list[list[str]], points: list[list[str]]) -> tuple[str, str]:
    """The table at each model's calibrated threshold, and image accuracy / false alarms at
    ``MIN_SCORES``; ``setting`` names the first column (or columns) of each row."""
    setting = [setting] if isinstance(setting, str) else setting
    table = markdown_table([*setting, "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision", "false alarms (generated backgrounds)",
                            *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "threshold", "training s"], rows)
    fixed_table = markdown_table([*setting, *(f"--min-score {t:g}" for t in MIN_SCORES)], points)
    print(table, fixed_table, sep="\n\n")
    return table, fixed_table
