"""Temperature scaling and expected calibration error on synthetic predictions with known answers.

Labels are drawn from a known distribution, so the right temperature and the right ECE are known
in advance: the fitted temperature must find ``T0``, and ECE must tell calibrated scores from
over-confident ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from logolens.evaluation.calibration import expected_calibration_error, fit_temperature, softmax

N = 20_000  # samples: the MLE of T and the per-bin accuracies are then tight
N_CLASSES = 5
T0 = 2.5


def draw_labels(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row, sampled from that row's distribution."""
    cumulative = np.cumsum(probabilities.astype(np.float64), axis=1)
    u = rng.random((len(probabilities), 1)) * cumulative[:, -1:]
    return np.minimum((u > cumulative).sum(axis=1), probabilities.shape[1] - 1)


@pytest.fixture(scope="module")
def tempered():
    """Logits ``z`` whose labels really follow ``softmax(z / T0)``: scores from ``softmax(z)``
    are over-confident, and ``T0`` is the temperature that calibrates them."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 4.0, size=(N, N_CLASSES)).astype(np.float32)
    labels = draw_labels(softmax(logits, T0), rng)
    return logits, labels


# ------------------------------------------------------------------ softmax


def test_softmax_rows_are_distributions():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 10, size=(50, 7))
    for temperature in (0.1, 1.0, 3.0):
        p = softmax(logits, temperature)
        assert p.shape == logits.shape and p.dtype == np.float32
        assert np.all(p >= 0)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(p.argmax(1), logits.argmax(1))  # temperature never changes the ranking


def test_softmax_matches_the_formula_and_ignores_shifts():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expected = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(logits, 2.0), expected, rtol=1e-6)
    np.testing.assert_allclose(softmax(logits + 1000.0, 2.0), expected, rtol=1e-6)  # no overflow
    np.testing.assert_allclose(softmax(logits[1:]), [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_softmax_temperature_sharpens_and_flattens():
    logits = np.array([[3.0, 1.0, 0.0]])
    assert softmax(logits, 0.5).max() > softmax(logits, 1.0).max() > softmax(logits, 4.0).max() > 1 / 3
    np.testing.assert_allclose(softmax(logits, 1e4), [[1 / 3] * 3], atol=1e-3)


# ------------------------------------------------------------------ temperature


def test_fit_temperature_recovers_a_known_temperature(tempered):
    logits, labels = tempered
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(T0, rel=0.1)


def test_fit_temperature_keeps_calibrated_logits_near_one():
    rng = np.random.default_rng(2)
    logits = rng.normal(0.0, 2.0, size=(N, N_CLASSES))
    labels = draw_labels(softmax(logits), rng)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.1)


def test_fit_temperature_of_under_confident_logits_is_below_one():
    rng = np.random.default_rng(3)
    logits = rng.normal(0.0, 1.0, size=(N, N_CLASSES))
    labels = draw_labels(softmax(logits, 0.5), rng)  # the truth is sharper than the scores
    assert fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.1)


def test_fit_temperature_without_samples_is_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_fit_temperature_of_separable_data_stays_positive_and_finite():
    logits = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 5.0  # always right: NLL keeps falling as T -> 0
    temperature = fit_temperature(logits, np.array([0, 1, 2, 0, 1, 2]))
    assert math.isfinite(temperature) and 0 < temperature < 1


# ------------------------------------------------------------------ ECE


def test_ece_of_calibrated_predictions_is_near_zero():
    rng = np.random.default_rng(4)
    confidence = rng.uniform(0.5, 1.0, size=N)
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.where(rng.random(N) < confidence, 0, 1)  # right exactly as often as claimed
    assert expected_calibration_error(probabilities, labels) < 0.02


def test_ece_of_over_confident_predictions_is_the_gap():
    rng = np.random.default_rng(5)
    probabilities = np.tile([0.99, 0.01], (N, 1))
    labels = np.where(rng.random(N) < 0.6, 0, 1)  # claims 99 %, right 60 % of the time
    accuracy = float((labels == 0).mean())
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.99 - accuracy, abs=1e-6)


def test_ece_by_hand_on_two_bins():
    # confidence 0.95: one right, one wrong (gap |0.5 - 0.95|); 0.55: both right (gap |1 - 0.55|); half the samples each
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)


def test_ece_of_perfect_certain_predictions_is_zero():
    probabilities = np.eye(4)[[0, 1, 2, 3, 3]]
    assert expected_calibration_error(probabilities, np.array([0, 1, 2, 3, 3])) == 0.0


def test_ece_without_samples_is_nan():
    assert math.isnan(expected_calibration_error(np.zeros((0, 3)), np.zeros(0, dtype=int)))


def test_temperature_scaling_reduces_ece(tempered):
    logits, labels = tempered
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, fit_temperature(logits, labels)), labels)
    assert before > 0.1  # T = 1 is clearly over-confident here
    assert after < 0.03
    assert after < before / 3


def test_fit_logistic_recovers_a_known_relation():
    from logolens.evaluation.calibration import binary_calibration_error, fit_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))
    y = rng.random(4000) < p
    w, b = fit_logistic(x, y, l2=0.0)
    np.testing.assert_allclose(w, [2.0, -1.0], atol=0.2)
    assert abs(b - 0.5) < 0.15
    fitted = 1 / (1 + np.exp(-(x @ w + b)))
    assert binary_calibration_error(fitted, y) < 0.03 < binary_calibration_error(np.full(4000, 0.95), y)
    w0, b0 = fit_logistic(x[:5], np.zeros(5))
    assert (w0 == 0).all() and b0 < -5
