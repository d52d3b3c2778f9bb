"""Metrics on a small example worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from logolens.evaluation.metrics import classification_report, confusion_matrix, top_k_accuracy

BRANDS = ["Acme", "Bolt", "Cora", "Dune"]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
SCORES = np.array([
    # Acme Bolt Cora Dune      true   predicted  top-2
    [0.7, 0.2, 0.1, 0.0],  # Acme   Acme       Acme Bolt
    [0.3, 0.5, 0.2, 0.0],  # Acme   Bolt       Bolt Acme
    [0.6, 0.3, 0.1, 0.0],  # Acme   Acme       Acme Bolt
    [0.1, 0.8, 0.1, 0.0],  # Bolt   Bolt       Bolt Acme (tie with Cora: the lower index comes first)
    [0.4, 0.1, 0.5, 0.0],  # Bolt   Cora       Cora Acme
    [0.3, 0.3, 0.4, 0.0],  # Cora   Cora       Cora Acme
])
# Dune has no true sample and is never predicted.


def test_top_k_accuracy_by_hand():
    assert top_k_accuracy(Y_TRUE, SCORES, 1) == pytest.approx(4 / 6)
    assert top_k_accuracy(Y_TRUE, SCORES, 2) == pytest.approx(5 / 6)
    assert top_k_accuracy(Y_TRUE, SCORES, 3) == 1.0
    assert top_k_accuracy(Y_TRUE, SCORES, 10) == 1.0  # k past the number of classes


def test_top_k_ties_go_to_the_lower_class_index():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    assert top_k_accuracy(np.array([0, 1]), scores, 1) == 1.0
    assert top_k_accuracy(np.array([1, 2]), scores, 1) == 0.0


def test_top_k_of_nothing_is_nan():
    assert math.isnan(top_k_accuracy(np.zeros(0, dtype=int), np.zeros((0, 3)), 1))


def test_confusion_matrix_by_hand():
    matrix = confusion_matrix(Y_TRUE, SCORES.argmax(1), 4)
    assert matrix.tolist() == [
        [2, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0],
    ]
    # repeated pairs are counted, not overwritten
    assert confusion_matrix(np.array([1, 1, 1]), np.array([0, 0, 1]), 2).tolist() == [[0, 0], [2, 1]]


def test_classification_report_by_hand():
    report = classification_report(Y_TRUE, SCORES, BRANDS)
    per = report["per_brand"]
    # Acme: 2 of 2 predictions right, 2 of 3 found
    assert per["Acme"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    # Bolt: predicted twice (1 right), 1 of 2 found
    assert per["Bolt"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # Cora: predicted twice (1 right), 1 of 1 found
    assert per["Cora"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert per["Dune"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["n_samples"] == 6 and report["n_brands"] == 4
    assert report["top1_accuracy"] == pytest.approx(4 / 6)
    assert report["top5_accuracy"] == 1.0
    assert report["chance_accuracy"] == 0.25
    # macro: over brands with a true sample (Acme, Bolt, Cora)
    assert report["macro_precision"] == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert report["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["brands"] == BRANDS
    assert report["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_brand_predicted_but_never_true_has_zero_precision_and_stays_out_of_macro():
    y_true = np.array([0, 1])
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7]])  # the Bolt sample is called Cora
    report = classification_report(y_true, scores, ["Acme", "Bolt", "Cora"])
    assert report["per_brand"]["Cora"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["per_brand"]["Bolt"]["recall"] == 0.0 and report["per_brand"]["Bolt"]["precision"] == 0.0
    assert report["macro_recall"] == pytest.approx(0.5)
    assert report["macro_precision"] == pytest.approx(0.5)


def test_logits_give_the_same_report_as_probabilities():
    logits = np.log(SCORES + 1e-3) * 3.0 + 7.0  # strictly increasing per row
    assert classification_report(Y_TRUE, logits, BRANDS) == classification_report(Y_TRUE, SCORES, BRANDS)


def test_report_is_json_ready():
    report = classification_report(Y_TRUE, SCORES, BRANDS)
    assert json.loads(json.dumps(report)) == report


def test_perfect_predictions():
    y = np.array([0, 1, 2, 1])
    report = classification_report(y, np.eye(3)[y], ["a", "b", "c"])
    assert report["top1_accuracy"] == 1.0 and report["macro_f1"] == 1.0
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 1]]
