"""Classification metrics: top-k accuracy, per-brand precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` highest scores."""
    if len(y_true) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(y_true)[:, None]).any(axis=1).mean())


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def classification_report(y_true: np.ndarray, scores: np.ndarray, brands: Sequence[str]) -> dict:
    """All metrics as one JSON-ready dict.

    ``scores`` is ``(N, n_brands)`` (probabilities or logits). Per-brand precision is 0 for a brand
    never predicted; ``macro`` averages over brands with at least one true sample.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    y_pred = scores.argmax(axis=1) if len(scores) else np.zeros(0, dtype=np.int64)
    matrix = confusion_matrix(y_true, y_pred, len(brands))
    true_positive = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    present = support > 0
    per_brand = {
        brand: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
        for i, brand in enumerate(brands)
    }
    return {
        "n_samples": int(len(y_true)),
        "n_brands": len(brands),
        "top1_accuracy": top_k_accuracy(y_true, scores, 1),
        "top5_accuracy": top_k_accuracy(y_true, scores, 5),
        "chance_accuracy": 1.0 / len(brands),
        "macro_precision": float(precision[present].mean()) if present.any() else float("nan"),
        "macro_recall": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_brand": per_brand,
        "brands": list(brands),
        "confusion_matrix": matrix.tolist(),
    }
