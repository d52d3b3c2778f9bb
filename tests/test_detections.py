"""The ``Detections`` value type: indexing, merging, NMS and the two output contracts."""

from __future__ import annotations

import numpy as np
import pytest

from logolens.detections import Detections, box_iou


def make(boxes, scores, brands):
    ids = [ord(b[0]) % 7 for b in brands]
    return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(ids), np.array(brands, object))


def test_mask_slice_and_int_indexing_return_new_objects():
    dets = make([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 50]], [0.9, 0.3, 0.6], ["a", "b", "a"])
    high = dets[dets.score > 0.5]
    assert len(high) == 2 and high.brand.tolist() == ["a", "a"]
    assert len(dets[1:]) == 2 and len(dets[2]) == 1 and dets[2].score[0] == pytest.approx(0.6)
    assert len(dets) == 3  # untouched
    with pytest.raises(IndexError):
        dets[np.array([True, False])]


def test_checks_parallel_arrays_and_sources():
    with pytest.raises(ValueError, match="score has 1 values for 2 boxes"):
        Detections(np.zeros((2, 4)), [0.5], [0, 0], ["a", "b"])
    with pytest.raises(ValueError, match="unknown detection source 'cloud'"):
        Detections(np.zeros((1, 4)), [0.5], [0], ["a"], ["cloud"])


def test_empty_and_merge():
    empty = Detections.empty()
    assert len(empty) == 0 and empty.to_json() == [] and empty.to_vision() == []
    a = make([[0, 0, 1, 1]], [0.5], ["a"])
    merged = Detections.merge([a, empty, a])
    assert len(merged) == 2 and merged.source.tolist() == ["trained", "trained"]


def test_box_iou_by_hand():
    iou = box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[50 / 150, 0.0, 1.0]])


def test_class_aware_nms_keeps_overlapping_boxes_of_other_brands():
    dets = make([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11], [50, 50, 60, 60]], [0.6, 0.9, 0.8, 0.1], ["a", "a", "b", "a"])
    kept = dets.nms(0.5)
    assert kept.score.tolist() == pytest.approx([0.9, 0.8, 0.1])  # sorted; the 0.6 "a" duplicate is gone
    agnostic = dets.nms(0.5, class_aware=False)
    assert agnostic.score.tolist() == pytest.approx([0.9, 0.1])
    assert len(dets.nms(0.99)) == 4  # nothing overlaps that much


def test_scaled_and_clipped():
    dets = make([[10, 10, 20, 20], [-5, 90, 5, 120], [200, 0, 210, 5]], [0.5, 0.4, 0.3], ["a", "a", "a"])
    np.testing.assert_allclose(dets.scaled(2.0, 0.5).xyxy[0], [20, 5, 40, 10])
    clipped = dets.clipped(100, 100)
    assert len(clipped) == 2  # the box right of the image is dropped
    np.testing.assert_allclose(clipped.xyxy[1], [0, 90, 5, 100])


def test_json_and_vision_contracts():
    dets = make([[10.123, 20.5, 30.0, 40.25]], [0.87654321], ["Adidas"])
    assert dets.to_json() == [{"brand": "Adidas", "score": 0.876543, "box": [10.12, 20.5, 30.0, 40.25], "source": "trained"}]
    assert dets.to_vision() == [{
        "mid": "", "description": "Adidas", "score": 0.876543,
        "boundingPoly": {"vertices": [{"x": 10, "y": 20}, {"x": 30, "y": 20}, {"x": 30, "y": 40}, {"x": 10, "y": 40}]},
    }]
