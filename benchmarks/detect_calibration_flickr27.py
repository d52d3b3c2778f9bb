"""Does the calibrator gain from knowing the box's size? The seed-0 detector, calibrated both ways.

The detector's score is a logistic calibrator over each candidate's evidence
(:data:`logolens.detector.FEATURES`). Where its image-level answers go wrong
(``detect_errors_flickr27.py``), small logos dominate: a wrong brand first, or a box on part of a
logo. ``log_box_share`` (log of the box's side over the photo's longest side) lets the calibrator
trust the same evidence less on a small box. This script takes the seed-0 detector of
``detect_flickr27.py`` as stored and refits its calibrator on the same calibration images and
logo-free pictures the other way: without that input (held at 0, so it weighs 0: the calibrator
as it was before the input existed) when the stored one has it, with it when the detector was
calibrated before it existed (:meth:`~logolens.detector.LogoDetector.recalibrate`, nothing
retrained). Both are scored on the 135 test photos (mAP, image-level accuracy at the calibrated
threshold and at fixed ``--min-score`` values) and on 40 generated logo-free backgrounds (false
alarms). A figure draws image accuracy against false alarms over every threshold.

    python benchmarks/detect_calibration_flickr27.py [--data PATH] [--models DIR]
"""

from __future__ import annotations

from unittest import mock

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from detect_flickr27 import background_pictures, seed0_detector_and_split, seed0_parser
from results import FIGURES, command_line, markdown_table, write_section

import logolens.detector
from logolens.detector import FEATURES, LogoDetector
from logolens.evaluation.detection import detection_report, image_level_report
from logolens.progress import track

FIXED_THRESHOLDS = (0.2, 0.3, 0.4)


def answers(detector: LogoDetector, test, backgrounds) -> tuple[list, np.ndarray]:
    """Every test photo's detections at any score, and each background's best score (0: nothing)."""
    found = [detector.detect(r.path, min_score=0.0) for r in track(test, "test photos")]
    tops = [detector.detect(p, min_score=0.0) for p in track(backgrounds, "backgrounds")]
    return found, np.array([float(d.score[0]) if len(d) else 0.0 for d in tops])


def image_accuracy(test, found, threshold: float) -> float:
    """Share of test photos answered right at ``threshold`` (as ``logolens evaluate`` counts it)."""
    return image_level_report(test, found, threshold)["accuracy"]


def rows_for(label: str, detector: LogoDetector, test, found, background_tops) -> tuple[list[list[str]], dict]:
    """The table's rows of one calibrator: its own threshold first, then the fixed ones."""
    rows = []
    for threshold in (detector.threshold_, *FIXED_THRESHOLDS):
        report = detection_report(list(test), found, detector.brands_, threshold)
        level = report["image_level"]
        own = "calibrated " if threshold == detector.threshold_ else ""
        rows.append([label, f"{own}{threshold:.3f}", f"{report['map50']:.3f}", f"{report['map']:.3f}", f"{level['accuracy']:.3f}",
                     f"{level['precision']:.3f}", f"{level['recall']:.3f}", f"{np.mean(background_tops >= threshold):.3f}"])
        print(" | ".join(rows[-1]), flush=True)
    return rows, {"found": found, "background": background_tops, "threshold": detector.threshold_}


def plot_tradeoff(test, curves: dict, path):
    """Image accuracy against false alarms, every threshold, one line per calibrator."""
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for label, curve in curves.items():
        scores = np.unique(np.concatenate([[0.0, 1.01], curve["background"], [float(d.score[0]) for d in curve["found"] if len(d)]]))
        xs = [np.mean(curve["background"] >= t) for t in scores]
        ys = [image_accuracy(test, curve["found"], t) for t in scores]
        line, = axis.step(xs, ys, where="post", label=label)
        t = curve["threshold"]
        axis.plot([np.mean(curve["background"] >= t)], [image_accuracy(test, curve["found"], t)], "o", color=line.get_color())
    axis.set_xlabel("false alarms (logo-free backgrounds with a detection)")
    axis.set_ylabel("image-level accuracy (test photos)")
    axis.set_title("seed-0 detector, two calibrators (dot: calibrated threshold)", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def recalibrated(detector: LogoDetector, calibration, with_share: bool) -> LogoDetector:
    """``detector`` recalibrated on ``calibration``, with the box-share input or with it held at 0
    (a zero input gets no weight: the calibrator as fitted before the input existed)."""
    if with_share:
        return detector.recalibrate(calibration)
    with mock.patch.object(logolens.detector, "log_box_share", lambda xyxy, width, height: np.zeros(len(np.reshape(xyxy, (-1, 4))))):
        return detector.recalibrate(calibration)


def main() -> None:
    parser = seed0_parser(__doc__)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, outer, inner = seed0_detector_and_split(args.models, args.data)
    test, backgrounds = list(outer.val), background_pictures()
    share = FEATURES.index("log_box_share")
    detector = LogoDetector.load(folder, runtime="torch")
    stored_has_share = detector.calibrator_["weights"][share] != 0.0
    stored = f"as stored ({'with' if stored_has_share else 'without'} box share)"
    other = f"recalibrated {'without' if stored_has_share else 'with'} box share"
    stored_weight = detector.calibrator_["weights"][share]
    rows, curve = rows_for(stored, detector, test, *answers(detector, test, backgrounds))
    curves = {stored: curve}
    detector.progress = True
    recalibrated(detector, inner.val, with_share=not stored_has_share)
    other_rows, curves[other] = rows_for(other, detector, test, *answers(detector, test, backgrounds))
    rows += other_rows
    weight = stored_weight if stored_has_share else detector.calibrator_["weights"][share]
    table = markdown_table(["calibrator", "min score", "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "precision", "recall",
                            "false alarms"], rows)
    print(table)
    print(f"box-share weight: {weight:+.3f}")
    figure = plot_tradeoff(test, curves, FIGURES / "detect_calibration.png")
    write_section("detect-calibration", f"""## The box's size as a calibrator input

`{command_line()}`

The seed-0 detector of the detection section (in `{args.models}/seed0`) scored on its {len(test)} test photos and
{len(backgrounds)} generated logo-free backgrounds with two calibrators fitted on the same calibration images and
logo-free pictures (nothing retrained): one with `log_box_share`, one without it (held at 0, so it weighs 0: the
calibrator of detectors trained before the input existed). The fitted box-share weight: {weight:+.2f} (the inputs
are on their own scales; positive: a larger box, the same evidence, a higher score). The first row of each
calibrator is at its own calibrated no-logo threshold, the default of `logolens detect`; the others at fixed
`--min-score` values.

{table}

![accuracy against false alarms](figures/{figure.name})
""")


if __name__ == "__main__":
    main()
