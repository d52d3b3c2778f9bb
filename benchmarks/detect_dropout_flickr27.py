"""Feature dropout in detector training (``logolens train --task detect --feature-dropout P``): what it buys.

The detector's heads train on cached DINOv2 grids of a few hundred photos and learn them by heart
(in a run with four cached scales the validation loss was lowest after 14 of 60 epochs). Zeroing a share of the cached features
in each step regularises them. This trains the seed-0 detector of ``benchmarks/detect_flickr27.py``
again with each ``--dropout`` share, on the same split (80 % of the training side to learn, 20 % to
stop early and calibrate), and scores it beside that benchmark's seed-0 detector (share 0, the
default) on the same test images: the main table's columns at each model's calibrated no-logo
threshold, then image accuracy and false alarms at a few fixed ``--min-score`` values, since the
calibrated threshold is fitted on about a hundred validation photos and moves between models.

Needs the seed-0 detector of ``benchmarks/detect_flickr27.py`` (in ``--models``); run that first.

    python benchmarks/detect_dropout_flickr27.py [--data PATH] [--models DIR] [--dropout 0.3] [--cache-dir DIR] [--reuse-models]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from detect_flickr27 import background_pictures, seed0_detector_and_split, table_values
from results import benchmark_parser, command_line, markdown_table, write_section

from logolens.detector import LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS, detection_report

MIN_SCORES = (0.15, 0.2, 0.25, 0.3)  # fixed --min-score values compared across models


def main() -> None:
    parser = benchmark_parser(__doc__, seeds=False)
    parser.add_argument("--models", default="runs/benchmarks/detect", help="where detect_flickr27.py saved its detectors")
    parser.add_argument("--out", default="runs/benchmarks/detect-dropout")
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.3], help="feature dropout shares to train with")
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    parser.add_argument("--reuse-models", action="store_true", help="score the detectors an earlier run left in --out")
    args = parser.parse_args()
    torch.set_num_threads(2)
    baseline, outer, inner = seed0_detector_and_split(args.models, args.data)
    backgrounds = background_pictures()
    rows, points = [], []
    for share in [0.0, *args.dropout]:
        folder = baseline if share == 0.0 else Path(args.out) / f"dropout{share:g}"
        if share == 0.0 or (args.reuse_models and (folder / "logolens.json").is_file()):
            detector = LogoDetector.load(folder, runtime="torch")
            seconds = detector.manifest_.get("training_seconds")
        else:
            started = time.perf_counter()
            detector = LogoDetector(feature_dropout=share, seed=0, cache_dir=args.cache_dir, progress=True)
            detector.fit(inner.train, inner.val, checkpoint_dir=folder)
            seconds = time.perf_counter() - started
            detector.save(folder, extra={"training_seconds": round(seconds, 1)})
        assert detector.feature_dropout == share, (folder, detector.feature_dropout)
        predictions = [detector.detect(r.path, min_score=0.0) for r in outer.val]
        report = detection_report(list(outer.val), predictions, detector.brands_, detector.threshold_)
        top_background = np.array([max([0.0, *detector.detect(p, min_score=0.0).score]) for p in backgrounds])
        values = table_values(report, float(np.mean(top_background >= detector.threshold_)))
        rows.append([f"{share:g}", *(f"{v:.3f}" for v in (*values[:4], values[5], *values[7:])), f"{detector.threshold_:.2f}",
                     "unknown" if seconds is None else f"{seconds:.0f}"])
        print(" | ".join(rows[-1]), flush=True)
        fixed = [detection_report(list(outer.val), predictions, detector.brands_, t)["image_level"]["accuracy"] for t in MIN_SCORES]
        points.append([f"{share:g}", *(f"{a:.3f} / {np.mean(top_background >= t):.3f}" for a, t in zip(fixed, MIN_SCORES))])
        print(" | ".join(points[-1]), flush=True)
    table = markdown_table(["feature dropout", "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision",
                            "false alarms (generated backgrounds)", *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS),
                            "threshold", "training s"], rows)
    fixed_table = markdown_table(["feature dropout", *(f"--min-score {t:g}" for t in MIN_SCORES)], points)
    print(table, fixed_table, sep="\n\n")
    write_section("detect-dropout", f"""
## Feature dropout in detector training (`--feature-dropout`)

`{command_line()}`

The seed-0 detector of the detection section (feature dropout 0, the default) beside the same detector trained again
with a share of its cached DINOv2 features zeroed at random in each training step of its head and box refiner (same
split, same settings otherwise); scored on the same {len(outer.val)} test images, false alarms on the same 40 generated
backgrounds. Training seconds as recorded when each was trained (the backbone's grids cached). At each model's
calibrated no-logo threshold:

{table}

Image accuracy / false alarms at fixed `--min-score` values (the same predictions; the calibrated threshold is fitted
on about a hundred validation photos, so it moves between models):

{fixed_table}

One training run per share: a retrained detector's numbers move by themselves (another draw of the masks), so read
a trend only where it is larger than the differences between neighbouring shares.
""")


if __name__ == "__main__":
    main()
