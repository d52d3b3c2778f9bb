"""Calibrated scores: temperature scaling and expected calibration error (ECE).

A network's softmax is usually over-confident. Temperature scaling divides the logits by one
scalar ``T`` fitted on held-out data to minimise negative log-likelihood; it never changes the
ranking (so accuracy is untouched) but makes a score of 0.8 mean "right about 80 % of the time".
ECE measures exactly that gap: the sample-weighted mean of ``|accuracy - confidence|`` over
confidence bins.
"""

from __future__ import annotations

import numpy as np
import torch


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The ``T > 0`` minimising the NLL of ``softmax(logits / T)``; 1.0 when there is nothing to fit."""
    logits_t = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(labels_t) == 0:
        return 1.0
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # optimise log T: keeps T > 0
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits_t / log_t.exp(), labels_t)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    return float(np.clip(temperature, 0.05, 100.0)) if np.isfinite(temperature) else 1.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-1 confidence over ``bins`` equal-width bins (0 is perfectly calibrated)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-3, max_iter: int = 200) -> tuple[np.ndarray, float]:
    """Platt scaling generalised to a few features: ``P(correct) = sigmoid(features @ w + b)``
    fitted by (lightly L2-regularised) maximum likelihood. Returns ``(w, b)``; with only one
    kind of label there is nothing to separate and ``w`` is zero, ``b`` the log-odds of the rate."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float64)).reshape(len(labels), -1)
    y = torch.as_tensor(np.asarray(labels, dtype=np.float64))
    rate = float(y.mean()) if len(y) else 0.5
    if len(y) == 0 or rate in (0.0, 1.0):
        clipped = min(max(rate, 1e-3), 1 - 1e-3)
        return np.zeros(x.shape[1]), float(np.log(clipped / (1 - clipped)))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * (w**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach().numpy().copy(), float(b.detach())


def binary_calibration_error(scores: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE of probabilities that an event happens (``labels`` 0/1): mean ``|rate - score|`` over bins."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.float64)
    if len(labels) == 0:
        return float("nan")
    which = np.clip((scores * bins).astype(int), 0, bins - 1)
    return float(sum((which == b).mean() * abs(labels[which == b].mean() - scores[which == b].mean())
                     for b in range(bins) if (which == b).any()))
