"""Detection metrics on small examples worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from logolens.data.dataset import Box, ImageRecord
from logolens.detections import Detections
from logolens.evaluation.detection import (
    SIZE_BUCKETS,
    detection_report,
    detection_summary_lines,
    match_detections,
    write_detection_report,
)

BRANDS = ["acme", "bolt"]


def dets(*rows: tuple[str, float, tuple[float, float, float, float]]) -> Detections:
    """``dets(("acme", 0.9, (x1, y1, x2, y2)), ...)``"""
    if not rows:
        return Detections.empty()
    return Detections(np.array([r[2] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),
                      np.full(len(rows), -1), np.array([r[0] for r in rows], dtype=object))


def image(name: str, *boxes: tuple[str, tuple[float, float, float, float]]) -> ImageRecord:
    return ImageRecord(f"{name}.jpg", 400, 300, tuple(Box(*xyxy, brand) for brand, xyxy in boxes))


A1, B1 = (10, 10, 110, 110), (200, 50, 300, 150)
A2, A3 = (50, 50, 150, 150), (250, 100, 350, 200)
RECORDS = [
    image("one", ("acme", A1), ("bolt", B1)),
    image("two", ("acme", A2), ("acme", A3)),
    image("three"),  # no logo
]
PREDICTIONS = [
    dets(("acme", 0.90, A1),  # d1 TP
         ("acme", 0.80, (12, 10, 112, 110)),  # d2 duplicate of A1 (IoU 0.96): FP
         ("acme", 0.70, B1),  # d3 wrong brand on the bolt box: FP
         ("bolt", 0.60, B1)),  # d4 TP
    dets(("zeta", 0.99, A2),  # d9 a brand outside BRANDS: wrong everywhere, not in any brand's AP
         ("acme", 0.85, A3),  # d5 TP
         ("acme", 0.50, A2)),  # d6 TP
    dets(("acme", 0.95, (0, 0, 50, 50)),  # d7 FP on the no-logo image, ranked above every TP
         ("bolt", 0.40, (100, 100, 200, 200))),  # d8 FP
]
# COCO AP@0.5, 101 recall thresholds r = 0, 0.01, ..., 1; the precision envelope p(r) is the
# highest precision at any recall >= r (0 if that recall is never reached).
#   acme (3 boxes), by score: d7 FP, d1 TP, d5 TP, d2 FP, d3 FP, d6 TP
#     precision 0, 1/2, 2/3, 2/4, 2/5, 3/6;  recall 0, 1/3, 2/3, 2/3, 2/3, 1
#     envelope: 2/3 for r <= 2/3 (r = 0.00 .. 0.66: 67 thresholds), 1/2 for r > 2/3 (0.67 .. 1.00: 34)
#     AP = (67 * 2/3 + 34 * 1/2) / 101 = (134/3 + 51/3) / 101 = 185/303
#   bolt (1 box): d4 TP (precision 1, recall 1), d8 FP (1/2, 1): envelope 1 everywhere, AP = 1
#   mAP@0.5 = (185/303 + 1) / 2 = 244/303
ACME_AP50 = 185 / 303
MAP50 = 244 / 303


def test_map50_by_hand():
    report = detection_report(RECORDS, PREDICTIONS, BRANDS, score_threshold=0.55)
    assert report["per_brand"]["acme"]["ap50"] == pytest.approx(ACME_AP50, abs=1e-6)
    assert report["per_brand"]["bolt"]["ap50"] == pytest.approx(1.0, abs=1e-6)
    assert report["map50"] == pytest.approx(MAP50, abs=1e-6)
    assert report["per_brand"]["acme"]["n_boxes"] == 3 and report["per_brand"]["bolt"]["n_boxes"] == 1
    # every TP box is exact, so AP is the same at every IoU threshold from 0.5 to 0.95
    assert report["per_brand"]["bolt"]["ap"] == pytest.approx(1.0, abs=1e-6)
    assert report["per_brand"]["acme"]["ap"] == pytest.approx(ACME_AP50, abs=1e-6)
    assert report["map"] == pytest.approx(MAP50, abs=1e-6)
    assert (report["n_images"], report["n_boxes"]) == (3, 4)
    json.dumps(report, allow_nan=False)


def test_pr_curve_by_hand():
    curve = detection_report(RECORDS, PREDICTIONS, BRANDS, score_threshold=0.55)["pr_curve"]
    # all brands pooled, by score: d9 FP, d7 FP, d1 TP, d5 TP, d2 FP, d3 FP, d4 TP, d6 TP, d8 FP; 4 boxes
    assert curve["score"] == pytest.approx([0.99, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert curve["precision"] == pytest.approx([0, 0, 1 / 3, 2 / 4, 2 / 5, 2 / 6, 3 / 7, 4 / 8, 4 / 9])
    assert curve["recall"] == pytest.approx([0, 0, 0.25, 0.5, 0.5, 0.5, 0.75, 1, 1])
    # the operating point is the last detection with score >= 0.55 (d4)
    assert curve["operating_point"]["precision"] == pytest.approx(3 / 7)
    assert curve["operating_point"]["recall"] == pytest.approx(0.75)


def test_long_pr_curve_is_subsampled():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 200, (500, 2))
    boxes = np.hstack([corners, corners + 20])
    predictions = [Detections(boxes, rng.uniform(0, 1, 500), np.zeros(500), np.full(500, "acme", object))]
    curve = detection_report([image("one", ("acme", A1))], predictions, BRANDS, 0.5)["pr_curve"]
    assert 100 < len(curve["score"]) <= 200
    assert curve["score"] == sorted(curve["score"], reverse=True)


def test_perfect_predictions_give_map_one():
    predictions = [dets(("acme", 0.9, A1), ("bolt", 0.8, B1)), dets(("acme", 0.7, A2), ("acme", 0.6, A3)), dets()]
    report = detection_report(RECORDS, predictions, BRANDS, score_threshold=0.5)
    assert report["map50"] == pytest.approx(1.0) and report["map"] == pytest.approx(1.0)
    assert report["image_level"]["accuracy"] == 1.0


def test_no_detections_give_map_zero():
    report = detection_report(RECORDS, [dets(), dets(), dets()], BRANDS, score_threshold=0.5)
    assert report["map50"] == 0.0 and report["map"] == 0.0
    assert report["per_brand"]["acme"] == {"ap50": 0.0, "ap": 0.0, "n_boxes": 3}
    assert report["pr_curve"]["precision"] == [] and report["pr_curve"]["operating_point"]["precision"] is None
    assert report["image_level"]["recall"] == 0.0 and report["image_level"]["false_alarm_rate"] == 0.0


def test_pycocotools_prints_nothing(capsys):
    detection_report(RECORDS, PREDICTIONS, BRANDS, score_threshold=0.5)
    assert capsys.readouterr().out == ""


def test_brand_without_boxes_is_left_out_of_the_mean():
    report = detection_report(RECORDS, PREDICTIONS, BRANDS + ["cora"], score_threshold=0.55)
    assert "cora" not in report["per_brand"]
    assert report["map50"] == pytest.approx(MAP50, abs=1e-6)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="predictions for 3 images"):
        detection_report(RECORDS, PREDICTIONS[:2], BRANDS, 0.5)
    with pytest.raises(ValueError, match="not in the brand list"):
        detection_report(RECORDS, PREDICTIONS, ["acme"], 0.5)
    with pytest.raises(ValueError, match="score_threshold"):
        detection_report(RECORDS, PREDICTIONS, BRANDS, 1.5)


# -- matching ---------------------------------------------------------------------------------
GT = np.array([[0, 0, 100, 100]], np.float32)


def test_duplicates_give_one_true_positive():
    found = match_detections(GT, ["acme"], dets(("acme", 0.6, (0, 0, 100, 100)), ("acme", 0.9, (0, 0, 100, 98))))
    assert found.tolist() == [False, True]  # the higher score takes the box, in the given order


def test_wrong_brand_is_not_a_true_positive():
    assert match_detections(GT, ["acme"], dets(("bolt", 0.9, (0, 0, 100, 100)))).tolist() == [False]


def test_iou_threshold_is_inclusive():
    # IoU of (0, 0, 100, h) with the 100 x 100 box is h / 100
    assert match_detections(GT, ["acme"], dets(("acme", 0.9, (0, 0, 100, 49.9)))).tolist() == [False]
    assert match_detections(GT, ["acme"], dets(("acme", 0.9, (0, 0, 100, 50)))).tolist() == [True]
    assert match_detections(GT, ["acme"], dets(("acme", 0.9, (0, 0, 100, 70))), iou_threshold=0.75).tolist() == [False]


def test_highest_iou_box_is_taken_first():
    gt = np.array([[0, 0, 100, 100], [40, 0, 140, 100]], np.float32)
    # the first detection overlaps both boxes (IoU 0.6 and 0.74) and must take the second, leaving
    # the first box for the other detection (IoU 0.67 with it, 0.25 with the second box)
    found = match_detections(gt, ["acme", "acme"], dets(("acme", 0.9, (25, 0, 125, 100)), ("acme", 0.8, (-20, 0, 80, 100))))
    assert found.tolist() == [True, True]


def test_no_boxes_or_no_detections():
    assert match_detections(np.zeros((0, 4)), [], dets(("acme", 0.9, (0, 0, 1, 1)))).tolist() == [False]
    assert match_detections(GT, ["acme"], dets()).tolist() == []


# -- image level and sizes --------------------------------------------------------------------
def test_image_level_with_no_logo_and_below_threshold():
    records = [image("logo", ("acme", A1)), image("logo2", ("bolt", B1)), image("empty"), image("empty2")]
    predictions = [
        dets(("acme", 0.3, A1)),  # below threshold: "none" on a logo image, wrong
        dets(("acme", 0.6, B1), ("bolt", 0.9, B1)),  # highest: bolt, right
        dets(("acme", 0.2, A1)),  # below threshold: "none", right
        dets(("bolt", 0.7, A1)),  # a brand on a no-logo image: false alarm
    ]
    level = detection_report(records, predictions, BRANDS, score_threshold=0.5)["image_level"]
    assert level["accuracy"] == pytest.approx(2 / 4)
    assert level["precision"] == pytest.approx(1 / 2)  # 2 images given a brand, 1 right
    assert level["recall"] == pytest.approx(1 / 2)  # 2 logo images, 1 given its brand
    assert level["f1"] == pytest.approx(1 / 2)
    assert (level["n_images"], level["n_no_logo"]) == (4, 2)
    assert level["false_alarm_rate"] == pytest.approx(1 / 2)


def test_image_level_on_fixture():
    level = detection_report(RECORDS, PREDICTIONS, BRANDS, score_threshold=0.55)["image_level"]
    # one: acme (right); two: zeta (wrong, not a known brand); three: acme on no-logo (false alarm)
    assert level["accuracy"] == pytest.approx(1 / 3)
    assert level["precision"] == pytest.approx(1 / 3) and level["recall"] == pytest.approx(1 / 2)
    assert level["f1"] == pytest.approx(2 / 5)
    assert level["false_alarm_rate"] == 1.0


def test_false_alarm_rate_is_null_without_no_logo_images():
    level = detection_report(RECORDS[:2], PREDICTIONS[:2], BRANDS, 0.5)["image_level"]
    assert level["false_alarm_rate"] is None and level["n_no_logo"] == 0


def test_size_buckets():
    assert SIZE_BUCKETS["small"][1] == 32**2 and SIZE_BUCKETS["large"][0] == 96**2
    small, edge_small = (0, 0, 20, 20), (0, 0, 31, 33)  # 400, 1023 px
    medium, edge_medium = (0, 100, 32, 132), (100, 0, 195, 97)  # 1024, 9215 px
    large = (200, 100, 296, 196)  # 9216 px
    record = image("sizes", ("acme", small), ("acme", edge_small), ("acme", medium), ("bolt", edge_medium), ("bolt", large))
    predictions = [dets(("acme", 0.9, small), ("acme", 0.2, medium), ("acme", 0.9, edge_medium), ("bolt", 0.8, large))]
    sizes = detection_report([record], predictions, BRANDS, score_threshold=0.5)["size_recall"]
    assert {name: bucket["n_boxes"] for name, bucket in sizes.items()} == {"small": 2, "medium": 2, "large": 1}
    assert sizes["small"]["recall_at_threshold"] == 0.5 and sizes["small"]["recall_any"] == 0.5
    assert sizes["medium"]["recall_at_threshold"] == 0.0 and sizes["medium"]["recall_any"] == 0.5  # wrong brand on edge_medium
    assert sizes["large"]["recall_at_threshold"] == 1.0


def test_share_buckets_measure_a_logo_against_its_photo_whatever_the_resolution():
    boxes = [(0, 0, 20, 20), (0, 100, 39, 139), (100, 0, 140, 40), (200, 100, 300, 200), (0, 140, 180, 300)]
    # sides 20, 39, 40, 100, 169.7 px of a 400-px-wide photo: shares 0.05, 0.0975, 0.1, 0.25, 0.42
    expected = {"under 0.1": 2, "0.1-0.2": 1, "0.2-0.4": 1, "0.4 and over": 1}
    small = []
    for scale in (1, 2):  # the same photo at twice the pixels: same shares, other COCO sizes
        scaled = [tuple(v * scale for v in box) for box in boxes]
        record = ImageRecord("shares.jpg", 400 * scale, 300 * scale, tuple(Box(*box, "acme") for box in scaled))
        predictions = [dets(("acme", 0.9, scaled[0]), ("acme", 0.2, scaled[2]), ("acme", 0.8, scaled[3]))]
        report = detection_report([record], predictions, BRANDS, score_threshold=0.5)
        shares = report["share_recall"]
        assert {name: bucket["n_boxes"] for name, bucket in shares.items()} == expected
        assert shares["under 0.1"]["recall_at_threshold"] == 0.5 and shares["under 0.1"]["recall_any"] == 0.5
        assert shares["0.1-0.2"]["recall_at_threshold"] == 0.0 and shares["0.1-0.2"]["recall_any"] == 1.0
        assert shares["0.2-0.4"]["recall_at_threshold"] == 1.0 and shares["0.4 and over"]["recall_any"] == 0.0
        assert "by share of the photo's side: under 0.1 0.500 (2)" in detection_summary_lines(report, "test")[-1]
        small.append(report["size_recall"]["small"]["n_boxes"])
    assert small == [1, 0]  # COCO's small bucket (under 32 x 32 px) loses the 20-px box when the photo doubles


def test_images_with_brands_but_no_boxes_count_only_image_level():
    records = RECORDS + [ImageRecord("query.jpg", 400, 300, brands=("acme",))]
    predictions = PREDICTIONS + [dets(("acme", 0.97, (0, 0, 30, 30)))]  # would be a top-ranked FP
    report = detection_report(records, predictions, BRANDS, score_threshold=0.55)
    assert report["map50"] == pytest.approx(MAP50, abs=1e-6)
    assert report["image_level"]["n_images"] == 4 and report["image_level"]["accuracy"] == pytest.approx(2 / 4)


# -- writing ----------------------------------------------------------------------------------
def test_write_detection_report(tmp_path):
    report = detection_report(RECORDS, PREDICTIONS, BRANDS, score_threshold=0.55)
    paths = write_detection_report(report, tmp_path / "out", stem="val")
    assert paths["metrics"] == tmp_path / "out" / "val-metrics.json"
    assert json.loads(paths["metrics"].read_text())["map50"] == pytest.approx(MAP50, abs=1e-6)
    assert paths["pr"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = detection_summary_lines(report, "val")
    assert lines[0].startswith("val: 3 images, 4 boxes") and "mAP@0.5 0.805" in lines[1]


def test_write_report_without_detections(tmp_path):
    report = detection_report(RECORDS, [dets(), dets(), dets()], BRANDS, score_threshold=0.5)
    paths = write_detection_report(report, tmp_path)
    assert paths["pr"].read_bytes()[:4] == b"\x89PNG"
    assert detection_summary_lines(report, "test")
