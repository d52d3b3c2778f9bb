"""Where the detector's image-level answers go wrong: the seed-0 detector's test photos, one by one.

The detection section reports mAP and image-level accuracy; this script says what stands between
them and the targets (mAP@0.5 0.85, image accuracy 0.95). Each of the 135 held-out test photos of
seed 0 falls into the first of these that holds for its best detection (the photo's answer, as
``logolens detect`` gives it):

- **right brand, on its logo**: one of the photo's brands, overlapping a box of that brand at IoU >= 0.5;
- **right brand, box off**: one of the photo's brands, overlapping none of its boxes at IoU >= 0.5 (a
  right answer for the photo, a false positive and a missed box for mAP);
- **wrong brand first**: the best detection names a brand the photo does not show, split by whether
  the right brand is among the next 4 candidates;
- **no candidate**: nothing detected at any score.

Each of the first ones is split again by whether its score reaches the calibrated no-logo threshold
(below it the photo's answer is ``none``). Then the boxes that were off: how they miss (IoU, and
whether the detected box is smaller than the logo's box, a part of it, or larger: the logo with its
surroundings or several logos). A figure shows examples of each kind. Needs the seed-0 detector of
``detect_flickr27.py`` (``--models``, default runs/benchmarks/detect).

    python benchmarks/detect_errors_flickr27.py [--data PATH] [--models DIR]
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from detect_flickr27 import seed0_detector_and_split, seed0_parser
from results import FIGURES, command_line, markdown_table, write_section

from logolens.data.images import load_image
from logolens.detections import box_iou
from logolens.detector import LogoDetector
from logolens.evaluation.detection import box_share
from logolens.progress import track

CANDIDATES = 5  # the best detection and the next 4
HIT_IOU = 0.5
KINDS = ("right brand, on its logo", "right brand, box off", "wrong brand first, right one among the next 4",
         "wrong brand first, right one not among them", "no candidate")


def kind_of(record, dets) -> tuple[str, float | None]:
    """The photo's kind (one of :data:`KINDS`) and, for a right brand, the best IoU of its box with that brand's boxes."""
    if not len(dets):
        return KINDS[4], None
    brand = str(dets.brand[0])
    if brand in record.brands:
        boxes = np.array([b.xyxy for b in record.boxes if b.brand == brand]).reshape(-1, 4)
        best_iou = float(box_iou(dets.xyxy[:1], boxes).max()) if len(boxes) else 0.0
        return (KINDS[0] if best_iou >= HIT_IOU else KINDS[1]), best_iou
    later = {str(b) for b in dets.brand[1:CANDIDATES]}
    return (KINDS[2] if later & set(record.brands) else KINDS[3]), None


def largest_share(record) -> float:
    return max((box_share(record, b) for b in record.boxes), default=0.0)


def off_box_shape(record, dets) -> str:
    """How a right-brand box that missed relates to the nearest box of its brand."""
    boxes = np.array([b.xyxy for b in record.boxes if b.brand == str(dets.brand[0])]).reshape(-1, 4)
    nearest = boxes[int(box_iou(dets.xyxy[:1], boxes)[0].argmax())]
    found, truth = dets.xyxy[0], nearest
    area = lambda b: max(float(b[2] - b[0]), 0.0) * max(float(b[3] - b[1]), 0.0)
    inter = [max(found[0], truth[0]), max(found[1], truth[1]), min(found[2], truth[2]), min(found[3], truth[3])]
    if area(inter) >= 0.9 * area(found):
        return "inside the logo's box (a part of it)"
    if area(inter) >= 0.9 * area(truth):
        return "around the logo's box (more than it)"
    return "overlapping it partly" if area(inter) > 0 else "elsewhere in the photo"


def main() -> None:
    parser = seed0_parser(__doc__)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, outer, _ = seed0_detector_and_split(args.models, args.data)
    detector = LogoDetector.load(folder, runtime="torch")
    threshold = detector.threshold_
    test = list(outer.val)
    found = [detector.detect(r.path, min_score=0.0) for r in track(test, "detecting")]
    rows_of: dict[tuple[str, bool], list] = {}
    off_shapes: dict[str, list[float]] = {}
    for record, dets in zip(test, found):
        kind, best_iou = kind_of(record, dets)
        confident = bool(len(dets)) and float(dets.score[0]) >= threshold
        rows_of.setdefault((kind, confident), []).append(record)
        if kind == KINDS[1]:
            off_shapes.setdefault(off_box_shape(record, dets), []).append(best_iou)
    n = len(test)
    rows = []
    for kind in KINDS:
        for confident in (True, False):
            records = rows_of.get((kind, confident), [])
            if not records and kind == KINDS[4] and confident:
                continue
            answer = ("the brand" if kind in KINDS[:2] else "a wrong brand") if confident else "none"
            rows.append([kind, "yes" if confident else "no", answer, str(len(records)), f"{len(records) / n:.3f}",
                         f"{np.median([largest_share(r) for r in records]):.2f}" if records else ""])
    table = markdown_table(["best detection", "score >= threshold", "photo's answer", "photos", "share",
                            "median share of its largest logo in the photo"], rows)
    right_first = sum(len(rows_of.get((k, c), [])) for k in KINDS[:2] for c in (True, False))
    shapes = markdown_table(["box off: the detected box is", "photos", "median IoU with the logo's box"],
                            [[shape, str(len(v)), f"{np.median(v):.2f}"] for shape, v in sorted(off_shapes.items(), key=lambda kv: -len(kv[1]))])
    print(table, shapes, sep="\n\n")
    figure = plot_examples(test, found, rows_of, FIGURES / "detect_errors.png")
    accuracy = sum(len(rows_of.get((k, True), [])) for k in KINDS[:2]) / n
    write_section("detect-errors", f"""## Where the detector's answers go wrong

`{command_line()}`

The seed-0 detector of the detection section (in `{args.models}/seed0`), its {n} test photos one by one, each by
its best detection at any score (the photo's answer is that detection's brand when its score reaches the
calibrated no-logo threshold, {threshold:.2f}, else `none`). "Right brand" means one the photo shows; "on its logo":
the box overlaps a box of that brand at IoU >= {HIT_IOU}. The logo's share of the photo is sqrt(w h) / the photo's
longest side, as in the recall columns there.

{table}

Image accuracy at the threshold: {accuracy:.3f}; if every photo were answered with its best detection whatever its
score: {right_first / n:.3f} (the ceiling a better no-logo threshold could reach, at the cost of false alarms).
The best detection named the right brand but missed its box in {sum(len(v) for v in off_shapes.values())} photos:

{shapes}

![examples](figures/{figure.name})

Green: the photo's annotated boxes; red: its best detection with brand and score.
""")


def plot_examples(test, found, rows_of: dict, path, per_kind: int = 3):
    """A grid: for the commonest ways of going wrong, the first ``per_kind`` photos of each."""
    shown = [("right brand, under the threshold", [r for k in KINDS[:2] for r in rows_of.get((k, False), [])]),
             ("right brand, box off", rows_of.get((KINDS[1], True), [])),
             ("wrong brand first", [r for k in KINDS[2:4] for r in rows_of.get((k, True), []) + rows_of.get((k, False), [])])]
    dets_of = {record.path: dets for record, dets in zip(test, found)}
    figure, axes = plt.subplots(len(shown), per_kind, figsize=(4 * per_kind, 3.4 * len(shown)), squeeze=False)
    for row, (title, records) in enumerate(shown):
        for col in range(per_kind):
            axis = axes[row][col]
            axis.axis("off")
            if col >= len(records):
                continue
            record = records[col]
            axis.imshow(load_image(record.path))
            for box in record.boxes:
                axis.add_patch(plt.Rectangle(box.xyxy[:2], box.xyxy[2] - box.xyxy[0], box.xyxy[3] - box.xyxy[1], fill=False, color="lime", lw=1.5))
            dets = dets_of[record.path]
            if len(dets):
                x1, y1, x2, y2 = dets.xyxy[0]
                axis.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="red", lw=1.5))
                axis.text(x1, y1, f"{dets.brand[0]} {dets.score[0]:.2f}", color="white", fontsize=7, va="bottom",
                          bbox=dict(facecolor="red", alpha=0.7, pad=1, lw=0))
            axis.set_title(f"{title}\n{', '.join(record.brands)}", fontsize=8)
    figure.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


if __name__ == "__main__":
    main()
