"""Listing each box with its runner-up brands (``--brands-per-box``): what it does to mAP and to the answers.

A box used to be one detection, of its most likely brand. When that brand is wrong, the right one
is often the second or third, and the logo was lost to mAP however likely its brand was. With
``brands_per_box`` k, each box is also listed under its next k - 1 brands (probability >= 0.02),
each row scored by the same calibrator from its own brand probability
(:func:`logolens.detector.with_runner_up_brands`).

The seed-0 detector of ``detect_flickr27.py`` as stored: its candidates on the 135 test photos and
40 generated logo-free backgrounds are computed once with 5 brands per box and cut to k (a
candidate's evidence does not depend on k), then scored and merged by class-aware NMS as ``detect``
does; first with the stored calibrator (fitted before runner-ups existed, on first brands only),
then with the calibrator refitted on the same calibration images with 3 brands per box (what
``logolens calibrate --brands-per-box 3`` and a newly trained detector do; nothing retrained).
A figure compares each brand's AP@0.5 with 1 and 3 brands per box.

    python benchmarks/detect_brands_per_box_flickr27.py [--data PATH] [--models DIR]
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from detect_flickr27 import background_pictures, seed0_detector_and_split, seed0_parser
from results import FIGURES, command_line, markdown_table, write_section

from logolens.data.images import load_image
from logolens.detections import Detections
from logolens.detector import LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS, detection_report
from logolens.progress import track

PER_BOX = (1, 2, 3, 5)
RECALIBRATED_PER_BOX = 3


def candidates(detector: LogoDetector, pictures) -> list[Detections]:
    """Each picture's unscored candidates with up to ``max(PER_BOX)`` brands per box."""
    detector.brands_per_box = max(PER_BOX)
    return [detector._uncalibrated(load_image(p) if isinstance(p, (str, Path)) else p) for p in track(pictures, "candidates")]


def scored(detector: LogoDetector, found: Detections, per_box: int) -> Detections:
    """What ``detect(min_score=0)`` returns with ``brands_per_box=per_box``, from ``found``."""
    return detector.scored(found[found.data["brand_rank"] < per_box])


def row(label: str, per_box: int, detector: LogoDetector, test, test_found, background_found) -> tuple[list[str], dict]:
    predictions = [scored(detector, d, per_box) for d in test_found]
    report = detection_report(list(test), predictions, detector.brands_, detector.threshold_)
    level = report["image_level"]
    alarms = np.mean([bool((scored(detector, d, per_box).score >= detector.threshold_).any()) for d in background_found])
    shown = np.mean([int((p.score >= detector.threshold_).sum()) for p in predictions])
    cells = [label, str(per_box), f"{report['map50']:.3f}", f"{report['map']:.3f}", f"{level['accuracy']:.3f}", f"{level['precision']:.3f}",
             f"{alarms:.3f}", *(f"{report['share_recall'][name]['recall_any'] or 0.0:.3f}" for name in SHARE_BUCKETS),
             f"{np.mean([len(p) for p in predictions]):.1f}", f"{shown:.2f}", f"{detector.threshold_:.2f}"]
    print(" | ".join(cells), flush=True)
    return cells, report


def plot_per_brand(reports: dict[str, dict], path):
    """Each brand's AP@0.5 under two settings, brands sorted by the first."""
    (first, a), (second, b) = reports.items()
    brands = sorted(a["per_brand"], key=lambda name: a["per_brand"][name]["ap50"])
    y = np.arange(len(brands))
    figure, axis = plt.subplots(figsize=(6, 7))
    axis.barh(y - 0.2, [a["per_brand"][n]["ap50"] for n in brands], height=0.4, label=first)
    axis.barh(y + 0.2, [b["per_brand"][n]["ap50"] for n in brands], height=0.4, label=second)
    axis.set_yticks(y, brands, fontsize=7)
    axis.set_xlabel("AP@0.5 (test photos)")
    axis.set_title("seed-0 detector: brands per box", fontsize=9)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def main() -> None:
    parser = seed0_parser(__doc__)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, outer, inner = seed0_detector_and_split(args.models, args.data)
    test = list(outer.val)
    detector = LogoDetector.load(folder, runtime="torch")
    detector.progress = True
    test_found, background_found = candidates(detector, [r.path for r in test]), candidates(detector, background_pictures())
    rows, reports = [], {}
    for per_box in PER_BOX:
        cells, reports[per_box] = row("as stored (first brands only)", per_box, detector, test, test_found, background_found)
        rows.append(cells)
    detector.brands_per_box = RECALIBRATED_PER_BOX
    detector.recalibrate(inner.val)
    rows.append(row("refitted with runner-ups", RECALIBRATED_PER_BOX, detector, test, test_found, background_found)[0])
    header = ["calibrator", "brands per box", "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision", "false alarms",
              *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "detections per photo (any score)",
              "detections per photo (at threshold)", "threshold"]
    table = markdown_table(header, rows)
    print(table)
    figure = plot_per_brand({"1 brand per box": reports[1], f"{RECALIBRATED_PER_BOX} brands per box": reports[RECALIBRATED_PER_BOX]},
                            FIGURES / "detect_brands_per_box.png")
    write_section("detect-brands-per-box", f"""## Runner-up brands per box (`--brands-per-box`)

`{command_line()}`

The seed-0 detector of the detection section (in `{args.models}/seed0`), nothing retrained. Its candidates on the
{len(test)} test photos and {len(background_found)} generated logo-free backgrounds were computed once with {max(PER_BOX)}
brands per box and cut to each setting (a box's evidence does not depend on it), then scored and merged by class-aware
NMS as `logolens detect` does. "As stored": the calibrator fitted on first brands only, before runner-ups existed;
"refitted": fitted again on the same calibration images and logo-free pictures with {RECALIBRATED_PER_BOX} brands per box
(`logolens calibrate --brands-per-box {RECALIBRATED_PER_BOX}`, what a newly trained detector does). Image-level numbers and
the recall columns (a logo counts as found when any detection of its brand, any score, overlaps it at IoU >= 0.5) at
each calibrator's no-logo threshold.

{table}

![AP per brand](figures/{figure.name})
""")


if __name__ == "__main__":
    main()
