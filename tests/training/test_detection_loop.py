"""Detector head training: it learns, and an interrupted run resumes to the very same weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from logolens.errors import ModelError
from logolens.models.detector import DenseLogoHead, DetectorConfig
from logolens.training.detection_loop import DetectorTrainConfig, _mean_loss, channels_last, fit_detector_head
from logolens.training.detection_targets import DenseTargets, dense_targets

GRID, CHANNELS = 4, 8


def toy_data(n: int = 8, seed: int = 0):
    """Grids whose channel 0 lights up where a logo sits: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    grids = torch.from_numpy(rng.normal(0, 0.1, (n, CHANNELS, GRID, GRID)).astype(np.float32))
    targets = []
    for i in range(n):
        r, c = int(rng.integers(0, GRID)), int(rng.integers(0, GRID))
        grids[i, 0, r, c] += 3.0
        box = np.array([[c * 14 + 2, r * 14 + 2, c * 14 + 12, r * 14 + 12]], np.float32)
        targets.append(dense_targets(box, np.array([i % 2]), GRID))
    return grids, DenseTargets.stack(targets)


def new_head() -> DenseLogoHead:
    torch.manual_seed(0)
    return DenseLogoHead(CHANNELS, DetectorConfig(n_classes=2, image_size=GRID * 14, width=16, depth=1, pretrained=False))


CONFIG = DetectorTrainConfig(epochs=6, lr=1e-2, batch_size=3, patience=0, seed=1)


def test_training_lowers_the_loss():
    history = fit_detector_head(new_head(), toy_data(), toy_data(4, seed=1), CONFIG)
    assert len(history) == 6
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    assert {"heat", "box", "brand", "val_loss", "lr", "seconds"} <= set(history[-1])


def test_grids_train_channels_last_with_the_same_values():
    grids = toy_data()[0].to(torch.float16)
    stored = channels_last(grids)
    assert stored.is_contiguous(memory_format=torch.channels_last) and not grids.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(stored, grids)  # a layout, not a change of values
    assert channels_last(stored).data_ptr() == stored.data_ptr()  # grids cached that way are not copied again
    assert stored[torch.tensor([2, 0])].float().is_contiguous(memory_format=torch.channels_last)  # a training batch keeps it


def test_stopping_early_keeps_the_best_epoch():
    """Patience 1 on a run whose validation loss turns up: it stops and holds the best epoch's weights."""
    head, val = new_head(), toy_data(4, seed=1)
    history = fit_detector_head(head, toy_data(), val, replace(CONFIG, epochs=40, patience=1))
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses))
    assert len(history) < 40 and len(history) == best + 2  # one stale epoch after the best, then stop
    assert _mean_loss(head, val, 3) == pytest.approx(losses[best], rel=1e-5)


@pytest.mark.parametrize("config", [CONFIG, replace(CONFIG, feature_dropout=0.3)], ids=["plain", "feature-dropout"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, config):
    """Also with feature dropout: its masks are drawn from the epoch's seeded generator, not the global one."""
    data, val = toy_data(), toy_data(4, seed=1)
    reference = new_head()
    fit_detector_head(reference, data, val, config)
    torch.manual_seed(123)  # the global generator's state must not matter

    checkpoint = tmp_path / "checkpoint.pt"

    def interrupt(epoch: int) -> None:
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_detector_head(new_head(), data, val, config, checkpoint, fingerprint="run-a", on_epoch_end=interrupt)
    assert checkpoint.is_file() and not list(tmp_path.glob(".*.tmp"))
    epochs_run = []
    resumed = new_head()
    history = fit_detector_head(resumed, data, val, config, checkpoint, fingerprint="run-a", on_epoch_end=epochs_run.append)
    assert epochs_run == [4, 5, 6] and [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)


def test_feature_dropout_zeroes_features_in_training_only():
    data, val = toy_data(), toy_data(4, seed=1)
    plain, dropped = new_head(), new_head()
    fit_detector_head(plain, data, val, CONFIG)
    history = fit_detector_head(dropped, data, val, replace(CONFIG, feature_dropout=0.5))
    assert not torch.equal(plain.trunk[0].weight, dropped.trunk[0].weight)  # the masks changed what it learnt
    assert history[-1]["val_loss"] < 0.8 * history[0]["val_loss"]  # and it still learns
    with torch.no_grad():  # the trained head itself has no dropout: same input, same output
        first, second = dropped(val[0]), dropped(val[0])
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_feature_dropout_outside_0_1_is_refused(share):
    with pytest.raises(ValueError, match="invalid detector training settings"):
        DetectorTrainConfig(feature_dropout=share)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    fit_detector_head(new_head(), toy_data(), None, DetectorTrainConfig(epochs=1, batch_size=4), checkpoint, fingerprint="run-a")
    with pytest.raises(ModelError, match="another training run"):
        fit_detector_head(new_head(), toy_data(), None, DetectorTrainConfig(epochs=2, batch_size=4), checkpoint, fingerprint="run-b")
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="unreadable checkpoint"):
        fit_detector_head(new_head(), toy_data(), None, DetectorTrainConfig(epochs=2, batch_size=4), checkpoint, fingerprint="run-a")
