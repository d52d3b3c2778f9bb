"""Detection metrics: COCO/VOC mAP per brand, recall by box size, image-level recognition, PR curve.

Boxes are ``xyxy`` pixels of the original image (see :mod:`logolens.detections`). mAP is left to
pycocotools so the numbers match what papers and other tools report; the rest (recall by size,
the image-level view that includes no-logo photos, the precision/recall curve) uses one greedy
matcher, :func:`match_detections`, that follows the same rule as COCO.

Images that name brands but carry no boxes (query sets, folder-per-brand layouts) have no box
ground truth, so a detection there is neither right nor wrong: they only count image-level.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from logolens.data.dataset import NO_LOGO, ImageRecord
from logolens.detections import Detections, box_iou
from logolens.evaluation.plots import pyplot, save_figure
from logolens.utils import atomic_write_json

SIZE_BUCKETS = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, float("inf"))}
"""COCO's box-area buckets, ``low <= w * h < high`` in original-image pixels: comparable with
what other tools and papers report."""

SHARE_BUCKETS = {"under 0.1": (0.0, 0.1), "0.1-0.2": (0.1, 0.2), "0.2-0.4": (0.2, 0.4), "0.4 and over": (0.4, float("inf"))}
"""Buckets of a logo's share of its photo, ``sqrt(w * h) / max(width, height)``. A detector that
scales every photo to one canvas (logolens letterboxes into 448 px) sees this, not the pixel
size: a logo under a tenth of the photo's side spans under three patches of its grid, however
many pixels it has, and COCO's buckets may still call it medium or large."""

PR_IOU = 0.5  # the PR curve pairs with mAP@0.5
MAX_CURVE_POINTS = 200  # keeps the JSON small; the curve is for a picture, not for more maths


def match_detections(gt_xyxy: np.ndarray, gt_brands: Sequence[str], detections: Detections, iou_threshold: float = 0.5) -> np.ndarray:
    """True-positive flags over ``detections`` (in their given order).

    Detections are visited by descending score; each takes the unmatched ground-truth box of its
    brand with the highest IoU, if that IoU is ``>= iou_threshold`` (COCO's rule). A duplicate of
    an already matched box, a wrong brand or a loose box is a false positive.
    """
    return _match(gt_xyxy, gt_brands, detections, iou_threshold)[0]


def _match(gt_xyxy, gt_brands, detections: Detections, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(detection is TP, GT box is matched)``."""
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    gt_xyxy = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    gt_brands = np.asarray(list(gt_brands), dtype=object)
    if len(gt_brands) != len(gt_xyxy):
        raise ValueError(f"{len(gt_brands)} ground-truth brands for {len(gt_xyxy)} boxes")
    tp = np.zeros(len(detections), dtype=bool)
    matched = np.zeros(len(gt_xyxy), dtype=bool)
    if not len(detections) or not len(gt_xyxy):
        return tp, matched
    iou = box_iou(detections.xyxy, gt_xyxy)  # (N, M)
    iou[detections.brand[:, None] != gt_brands[None, :]] = -1.0
    for i in np.argsort(-detections.score, kind="stable"):
        candidates = np.where(matched, -1.0, iou[i])
        best = int(candidates.argmax())
        if candidates[best] >= iou_threshold:
            tp[i], matched[best] = True, True
    return tp, matched


def detection_report(records: Sequence[ImageRecord], predictions: Sequence[Detections], brands: Sequence[str],
                     score_threshold: float, iou_threshold: float = 0.5) -> dict:
    """All detection metrics of ``predictions[i]`` against ``records[i]``, as one JSON-ready dict.

    mAP uses every detection (ranking quality); ``score_threshold`` is the operating point for
    the thresholded numbers (recall by size, image level). A predicted brand outside ``brands``
    is simply wrong. Undefined ratios (nothing to divide by) are ``None``.
    """
    brands = list(brands)
    _check_inputs(records, predictions, brands, score_threshold)
    boxed = [i for i, record in enumerate(records) if record.boxes or not record.has_logo]
    boxed_records, boxed_predictions = [records[i] for i in boxed], [predictions[i] for i in boxed]
    boxed_gts = [(r.box_xyxy, [box.brand for box in r.boxes]) for r in boxed_records]
    ap50, ap = _coco_ap(boxed_records, boxed_predictions, brands)
    n_per_brand = {brand: 0 for brand in brands}
    for record in records:
        for box in record.boxes:
            n_per_brand[box.brand] += 1
    scored = [brand for brand in brands if n_per_brand[brand]]
    found = _boxes_found(boxed_predictions, boxed_gts, score_threshold, iou_threshold)
    return {
        "map50": float(np.mean([ap50[b] for b in scored])) if scored else None,
        "map": float(np.mean([ap[b] for b in scored])) if scored else None,
        "per_brand": {b: {"ap50": ap50[b], "ap": ap[b], "n_boxes": n_per_brand[b]} for b in scored},
        "size_recall": _recall_by(found, [box.area for record in boxed_records for box in record.boxes], SIZE_BUCKETS),
        "share_recall": _recall_by(found, [box_share(record, box) for record in boxed_records for box in record.boxes], SHARE_BUCKETS),
        "image_level": image_level_report(records, predictions, score_threshold),
        "pr_curve": _pr_curve(boxed_predictions, boxed_gts, score_threshold),
        "n_images": len(records),
        "n_images_box_level": len(boxed),  # images with boxes, and no-logo images
        "n_boxes": sum(n_per_brand.values()),
        "score_threshold": float(score_threshold),
        "iou_threshold": float(iou_threshold),
    }


def _check_inputs(records, predictions, brands: list[str], score_threshold: float) -> None:
    if len(records) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} images; give one Detections per image")
    if len(set(brands)) != len(brands):
        raise ValueError(f"duplicate brand names in {brands}")
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    unknown = sorted({box.brand for record in records for box in record.boxes} - set(brands))
    if unknown:
        raise ValueError(f"ground-truth brands {unknown} are not in the brand list {brands}")


def _coco_ap(records: Sequence[ImageRecord], predictions: Sequence[Detections], brands: list[str]) -> tuple[dict, dict]:
    """Per brand: (AP@0.5, AP@[.5:.95]) from pycocotools, 101-point interpolated; 0 for brands
    with boxes but no detections, -1 (unused) for brands without boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    category = {brand: k + 1 for k, brand in enumerate(brands)}  # COCO ids start at 1 (0 means unmatched)
    images = [{"id": i + 1, "width": r.width, "height": r.height} for i, r in enumerate(records)]
    boxes = [(i + 1, box) for i, r in enumerate(records) for box in r.boxes]
    annotations = [
        {"id": n + 1, "image_id": image_id, "category_id": category[box.brand], "iscrowd": 0,
         "bbox": [box.x1, box.y1, box.width, box.height], "area": box.area}
        for n, (image_id, box) in enumerate(boxes)
    ]
    results = [
        {"image_id": i + 1, "category_id": category[str(dets.brand[j])], "score": float(dets.score[j]),
         "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]}
        for i, dets in enumerate(predictions) for j, (x1, y1, x2, y2) in enumerate(dets.xyxy)
        if str(dets.brand[j]) in category
    ]
    ap50 = {brand: 0.0 for brand in brands}
    ap = dict(ap50)
    if not annotations or not results:  # loadRes cannot take an empty list
        return ap50, ap
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress; our stdout may carry JSON
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": [{"id": k, "name": b} for b, k in category.items()]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="bbox")
        evaluation.params.maxDets = [1, 10, 100]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"]  # (IoU thresholds, recall thresholds, categories, areas, maxDets)
    for k, brand in enumerate(brands):
        all_iou = precision[:, :, k, 0, -1]
        ap50[brand] = _mean_defined(all_iou[0])  # iouThrs[0] == 0.5
        ap[brand] = _mean_defined(all_iou)
    return ap50, ap


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0


def box_share(record: ImageRecord, box) -> float:
    """A box's share of its photo, the value :data:`SHARE_BUCKETS` buckets."""
    return float(np.sqrt(box.area)) / max(record.width, record.height, 1)


def _boxes_found(predictions, gts, score_threshold: float, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per GT box, in image order: found by a confident detection, and by any detection."""
    hit_confident, hit_any = [], []
    for dets, (gt_xyxy, gt_brands) in zip(predictions, gts):
        hit_confident.extend(_match(gt_xyxy, gt_brands, dets[dets.score >= score_threshold], iou_threshold)[1])
        hit_any.extend(_match(gt_xyxy, gt_brands, dets, iou_threshold)[1])
    return np.array(hit_confident, bool), np.array(hit_any, bool)


def _recall_by(found: tuple[np.ndarray, np.ndarray], values: Sequence[float], buckets: dict) -> dict:
    """Per bucket ``low <= value < high`` of the GT boxes' ``values``: the share found by confident
    detections, and by any detection (``found``, from :func:`_boxes_found`)."""
    hit_confident, hit_any = found
    values = np.asarray(values, float)
    report = {}
    for name, (low, high) in buckets.items():
        inside = (values >= low) & (values < high) if values.size else np.zeros(0, bool)
        n = int(inside.sum())
        report[name] = {"n_boxes": n,
                        "recall_at_threshold": float(hit_confident[inside].mean()) if n else None,
                        "recall_any": float(hit_any[inside].mean()) if n else None}
    return report


def image_level_report(records, predictions, score_threshold: float) -> dict:
    """Whole-photo recognition with ``none``: the label is the brand of the most confident
    detection at or above the threshold. This is what a user of ``logolens detect`` sees."""
    predicted = []
    for dets in predictions:
        confident = dets[dets.score >= score_threshold]
        predicted.append(str(confident.brand[int(np.argmax(confident.score))]) if len(confident) else NO_LOGO)
    has_logo = np.array([record.has_logo for record in records], dtype=bool)
    given = np.array([label != NO_LOGO for label in predicted], dtype=bool)
    right = np.array([label in r.brands if label != NO_LOGO else not r.has_logo for label, r in zip(predicted, records)], bool)
    precision = _ratio((given & right).sum(), given.sum()) or 0.0
    recall = _ratio((has_logo & right).sum(), has_logo.sum()) or 0.0
    return {
        "accuracy": _ratio(right.sum(), len(records)),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "n_images": len(records),
        "n_no_logo": int((~has_logo).sum()),
        "false_alarm_rate": _ratio((given & ~has_logo).sum(), (~has_logo).sum()),
    }


def _ratio(numerator, denominator) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _pr_curve(predictions, gts, score_threshold: float) -> dict:
    """Precision and recall after each detection, all brands pooled, by descending score; a hit
    needs the right brand. ``operating_point`` is the curve at ``score_threshold``."""
    scores, hits = [], []
    for dets, (gt_xyxy, gt_brands) in zip(predictions, gts):
        scores.extend(dets.score.tolist())
        hits.extend(_match(gt_xyxy, gt_brands, dets, PR_IOU)[0].tolist())
    n_boxes = sum(len(brands) for _, brands in gts)
    order = np.argsort(-np.array(scores, dtype=np.float64), kind="stable")
    scores = np.array(scores, dtype=np.float64)[order]
    tp = np.cumsum(np.array(hits, dtype=bool)[order])
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / max(n_boxes, 1)  # no boxes: nothing to recall, the curve lies on 0
    at = int((scores >= score_threshold).sum()) - 1
    operating = {"score_threshold": float(score_threshold),
                 "precision": float(precision[at]) if at >= 0 else None,
                 "recall": float(recall[at]) if at >= 0 else 0.0}
    keep = np.unique(np.linspace(0, len(scores) - 1, MAX_CURVE_POINTS).round().astype(int)) if len(scores) > MAX_CURVE_POINTS else slice(None)
    return {"precision": precision[keep].tolist(), "recall": recall[keep].tolist(), "score": scores[keep].tolist(),
            "iou": PR_IOU, "operating_point": operating}


def plot_precision_recall(report: dict, path: str | Path) -> Path:
    """The pooled precision/recall curve with the operating point at ``score_threshold`` marked."""
    plt = pyplot()
    curve = report["pr_curve"]
    figure, axis = plt.subplots(figsize=(6, 5))
    axis.plot(curve["recall"], curve["precision"], "-", linewidth=1.5, label="all brands")
    point = curve.get("operating_point") or {}
    if point.get("precision") is not None:
        axis.plot([point["recall"]], [point["precision"]], "o", color="tab:red",
                  label=f"score >= {report['score_threshold']:.2f}")
    axis.set_xlim(-0.02, 1.02)
    axis.set_ylim(-0.02, 1.02)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    read = ", photos' text read" if report.get("ocr") else ""
    axis.set_title(f"Detection{read}: mAP@0.5 {_number(report['map50'])}   mAP@[.5:.95] {_number(report['map'])}")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    return save_figure(figure, path)


def write_detection_report(report: dict, out: str | Path, stem: str = "detection") -> dict[str, Path]:
    """``OUT/{stem}-metrics.json`` (atomic) and ``OUT/{stem}-pr.png``; returns their paths."""
    out = Path(out)
    return {"metrics": atomic_write_json(out / f"{stem}-metrics.json", report),
            "pr": plot_precision_recall(report, out / f"{stem}-pr.png")}


def detection_summary_lines(report: dict, label: str) -> list[str]:
    """Human-readable headline numbers of a detection report."""
    image = report["image_level"]
    sizes, shares = ("   ".join(f"{name} {_number(bucket['recall_at_threshold'])} ({bucket['n_boxes']})"
                                   for name, bucket in report.get(key, {}).items()) for key in ("size_recall", "share_recall"))
    return [
        f"{label}: {report['n_images']} images, {report['n_boxes']} boxes, score >= {report['score_threshold']:.2f}",
        f"  mAP@0.5 {_number(report['map50'])}   mAP@[.5:.95] {_number(report['map'])}",
        f"  image level: accuracy {_number(image['accuracy'])}   precision {_number(image['precision'])}   "
        f"recall {_number(image['recall'])}   F1 {_number(image['f1'])}   "
        f"false alarms {_number(image['false_alarm_rate'])} of {image['n_no_logo']} no-logo images",
        f"  box recall (IoU >= {report['iou_threshold']:.2f}) by size: {sizes}",
        *([f"  box recall by share of the photo's side: {shares}"] if shares else []),
    ]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
