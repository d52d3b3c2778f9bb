"""The training loop reproduces Keras: RMSprop's update, per-batch lr decay, the history it keeps."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from logolens.models import create_model
from logolens.training.loop import TrainConfig, _lr_factor, evaluate_tensors, fit_classifier, parameter_groups

KEYS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}


def tiny_problem(n: int = 8, n_features: int = 4, n_classes: int = 3, seed: int = 0):
    """A linear model and data whose last feature is 1e-4 times smaller: its weights get tiny
    gradients, where putting epsilon inside or outside the square root makes a big difference."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_features, generator=generator)
    x[:, -1] *= 1e-4
    y = torch.randint(0, n_classes, (n,), generator=generator)
    torch.manual_seed(seed)
    model = nn.Linear(n_features, n_classes)
    return model, x, y


def keras_rmsprop(model: nn.Module, x, y, lr: float, decay: float, steps: int, eps_inside: bool = False):
    """Keras' RMSprop written out: a = rho*a + (1-rho)*g^2; p -= lr_t * g / (sqrt(a) + eps), with
    lr_t = lr / (1 + decay * t) for the t-th update (t from 0), full-batch gradients of the mean
    cross-entropy. Returns the parameters as float64 numpy arrays."""
    rho, eps = 0.9, 1e-7
    model = copy.deepcopy(model)
    params = {name: p.detach().double().numpy().copy() for name, p in model.named_parameters()}
    accumulators = {name: np.zeros_like(value) for name, value in params.items()}
    for t in range(steps):
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(params[name]))
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        lr_t = lr / (1.0 + decay * t)
        for name, p in model.named_parameters():
            g = p.grad.double().numpy()
            accumulators[name] = rho * accumulators[name] + (1 - rho) * g * g
            a = accumulators[name]
            denominator = np.sqrt(a + eps) if eps_inside else np.sqrt(a) + eps
            params[name] = params[name] - lr_t * g / denominator
    return params


def as_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().double().numpy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("steps", [1, 3])
def test_rmsprop_matches_the_keras_update(steps):
    model, x, y = tiny_problem()
    lr, decay = 0.01, 0.5
    expected = keras_rmsprop(model, x, y, lr, decay, steps)
    wrong_eps = keras_rmsprop(model, x, y, lr, decay, steps, eps_inside=True)
    no_decay = keras_rmsprop(model, x, y, lr, 0.0, steps)
    trained = copy.deepcopy(model)
    # one full batch per epoch, so each epoch is one optimizer step
    fit_classifier(trained, (x, y), None, TrainConfig(epochs=steps, lr=lr, decay=decay, batch_size=len(x)))
    got = as_numpy(trained)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-7, err_msg=name)
    # the comparison is sharp enough to tell epsilon's place (and, after step 1, the decay)
    assert not np.allclose(got["weight"], wrong_eps["weight"], rtol=1e-5, atol=1e-7)
    if steps > 1:
        assert not np.allclose(got["weight"], no_decay["weight"], rtol=1e-5, atol=1e-7)


def test_lr_decays_per_batch_like_keras():
    model, x, y = tiny_problem(n=10)
    lr, decay, batch_size, epochs = 0.01, 0.05, 4, 5  # 3 batches (4 + 4 + 2) per epoch
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=epochs, lr=lr, decay=decay, batch_size=batch_size))
    for row in history:
        steps = 3 * row["epoch"]
        assert row["lr"] == pytest.approx(lr / (1 + decay * steps), rel=1e-12)


def test_default_decay_is_the_posts_1e_minus_6():
    config = TrainConfig()
    assert (config.lr, config.decay, config.batch_size, config.epochs, config.optimizer) == (1e-4, 1e-6, 32, 150, "rmsprop")


def test_history_rows(tmp_path):
    model, x, y = tiny_problem(n=12)
    val = (x[:5], y[:5])
    history = fit_classifier(model, (x, y), val, TrainConfig(epochs=4, lr=0.01, batch_size=5))
    assert len(history) == 4
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    for row in history:
        assert set(row) == KEYS
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["val_accuracy"] <= 1.0
        assert row["loss"] > 0 and row["val_loss"] > 0 and row["seconds"] >= 0
        # accuracy is a share of 12 training / 5 validation samples
        assert round(row["accuracy"] * 12, 5).is_integer() and round(row["val_accuracy"] * 5, 5).is_integer()
    # validation metrics are those of the final weights in inference mode
    loss, accuracy = evaluate_tensors(model, val)
    assert history[-1]["val_loss"] == pytest.approx(loss) and history[-1]["val_accuracy"] == pytest.approx(accuracy)


def test_history_without_validation_has_none():
    model, x, y = tiny_problem()
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=2, lr=0.01))
    assert [set(row) for row in history] == [KEYS, KEYS]
    assert all(row["val_loss"] is None and row["val_accuracy"] is None for row in history)


def test_training_loss_is_the_mean_over_the_epochs_batches():
    # With one full batch, epoch 1's loss and accuracy are those of the initial weights.
    model, x, y = tiny_problem()
    with torch.no_grad():
        logits = model(x)
    initial_loss = nn.functional.cross_entropy(logits, y).item()
    initial_accuracy = (logits.argmax(1) == y).float().mean().item()
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=1, lr=0.01, batch_size=len(x)))
    assert history[0]["loss"] == pytest.approx(initial_loss, rel=1e-6)
    assert history[0]["accuracy"] == pytest.approx(initial_accuracy)


def test_loss_goes_down_and_model_ends_in_eval_mode():
    torch.manual_seed(0)
    model = create_model("seed-cnn", n_classes=2, image_size=22)
    x = torch.rand(16, 3, 22, 22)
    y = (x[:, 0].mean(dim=(1, 2)) > x[:, 2].mean(dim=(1, 2))).long()
    x[y == 1, 0] += 0.5  # make it easy
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=20, lr=3e-3, batch_size=8))
    assert history[-1]["loss"] < history[0]["loss"] * 0.5
    assert not model.training


def test_same_seed_same_training():
    def run():
        torch.manual_seed(123)  # same initial weights
        model = create_model("seed-cnn", n_classes=3, image_size=22)
        generator = torch.Generator().manual_seed(0)
        x, y = torch.rand(10, 3, 22, 22, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
        history = fit_classifier(model, (x, y), None, TrainConfig(epochs=3, lr=1e-3, batch_size=4, seed=7))
        return model.state_dict(), [row["loss"] for row in history]

    (first, first_losses), (second, second_losses) = run(), run()
    assert first_losses == second_losses
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"optimizer": "adam"}, r"unknown optimizer 'adam' \(did you mean 'adamw'"),
    ({"warmup": 1.0}, r"warmup must be in \[0, 1\)"),
])
def test_config_checks(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_no_training_samples():
    model, x, y = tiny_problem()
    with pytest.raises(ValueError, match="no training samples"):
        fit_classifier(model, (x[:0], y[:0]), None, TrainConfig(epochs=1))


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_other_optimizers_train(optimizer):
    model, x, y = tiny_problem()
    before = as_numpy(model)["weight"].copy()
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=2, lr=0.05, optimizer=optimizer))
    assert len(history) == 2
    assert not np.allclose(as_numpy(model)["weight"], before)


def test_parameter_groups_scale_the_lr_of_named_parts_and_skip_frozen_ones():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    model[0].bias.requires_grad = False
    groups = parameter_groups(model, 1e-3, {"1.": 10.0})
    assert sorted((g["lr"], len(g["params"])) for g in groups) == [(1e-3, 1), (1e-2, 2)]
    assert all(p is not model[0].bias for g in groups for p in g["params"])


def test_lr_scale_reaches_the_optimizer():
    model, x, y = tiny_problem()
    frozen_first = copy.deepcopy(model)
    history = fit_classifier(model, (x, y), None, TrainConfig(epochs=1, lr=0.01, optimizer="sgd", schedule="cosine"),
                             lr_scale={"bias": 0.0})
    assert len(history) == 1
    assert torch.equal(model.bias, frozen_first.bias) and not torch.equal(model.weight, frozen_first.weight)


def test_cosine_warmup_rises_linearly_then_decays():
    factor = _lr_factor(TrainConfig(schedule="cosine", warmup=0.1), total_steps=100)
    assert factor(0) == pytest.approx(0.1, rel=0.01) and factor(4) == pytest.approx(0.5, rel=0.01)
    assert factor(9) == pytest.approx(1.0, abs=0.03)  # warm-up done, cosine barely started
    assert factor(50) == pytest.approx(0.5) and factor(100) == pytest.approx(0.0)
    plain = _lr_factor(TrainConfig(schedule="cosine"), total_steps=100)
    assert plain(0) == 1.0  # no warm-up by default: the frozen-head recipe is unchanged
