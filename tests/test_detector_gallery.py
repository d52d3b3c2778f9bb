"""A brand enrolled into a detector's folder is detected in whole photos right away."""

from __future__ import annotations

import shutil

import numpy as np

from conftest import FEWSHOT_TRAINED, brand_order
from logolens.detections import box_iou
from logolens.detector import LogoDetector
from logolens.gallery.folder import enrol_brand


def test_enrolled_brand_is_detected_in_whole_photos(trained_detector_dir, fewshot_dataset, tmp_path):
    model = shutil.copytree(trained_detector_dir, tmp_path / "detector")
    new = brand_order()[FEWSHOT_TRAINED]
    scenes = [r for r in fewshot_dataset if r.primary_brand == new]
    examples, tests = scenes[:6], scenes[6:]
    enrol_brand(model, new, [r.path for r in examples], [next(b.xyxy for b in r.boxes if b.brand == new) for r in examples])
    detector = LogoDetector.load(model)
    before = LogoDetector.load(trained_detector_dir)
    found, found_before = [], []
    for record in tests:
        truth = np.array([b.xyxy for b in record.boxes if b.brand == new])
        for model_, hits in ((detector, found), (before, found_before)):
            dets = model_.detect(record.path, min_score=0.0)
            named = dets[dets.brand == new]
            assert set(named.source) <= {"gallery"}
            hits.append(bool(len(named)) and float(box_iou(truth, named.xyxy).max()) >= 0.5)
    # on 4 trained brands the open-set threshold is strict: most boxes of the new brand stay
    # "unknown" (most are placed right, IoU >= 0.5, but the gallery does not accept them)
    assert sum(found) >= 1 and not any(found_before)
