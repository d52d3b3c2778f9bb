"""The training loop for classifiers on in-memory tensors, Keras-compatible where it matters.

Keras' RMSprop (``rho=0.9``, ``epsilon=1e-7`` added outside the square root) is exactly torch's
``RMSprop(alpha=0.9, eps=1e-7)``; its ``decay`` argument shrinks the learning rate per *batch*
as ``lr / (1 + decay * step)``, reproduced here with a ``LambdaLR`` stepped every batch. Like
Keras' ``fit``, training loss and accuracy are the running means over the epoch's batches
(dropout on), validation metrics are computed afterwards in inference mode.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from logolens.progress import make_progress
from logolens.utils import unknown_choice_message

OPTIMIZERS = ("rmsprop", "adamw", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 150  # the post trained for 150 epochs
    lr: float = 1e-4  # the post's RMSprop learning rate
    decay: float = 1e-6  # Keras-style per-batch decay: lr / (1 + decay * step)
    batch_size: int = 32  # Keras' default batch size
    optimizer: str = "rmsprop"
    weight_decay: float = 0.0  # for adamw / sgd
    seed: int = 0  # shuffling and dropout

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(unknown_choice_message("optimizer", self.optimizer, OPTIMIZERS))

    def to_json(self) -> dict:
        return asdict(self)


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.lr, alpha=0.9, eps=1e-7)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def fit_classifier(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    config: TrainConfig,
    progress: bool = False,
) -> list[dict]:
    """Train ``model`` (logits out) on ``train = (x, y)``; returns one history row per epoch.

    Rows hold ``epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds`` (validation values
    are ``None`` without ``val``).
    """
    x_train, y_train = train
    if len(x_train) == 0:
        raise ValueError("no training samples")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout masks
    optimizer = make_optimizer(model.parameters(), config)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1.0 + config.decay * step))
    loss_fn = nn.CrossEntropyLoss()
    history = []
    with make_progress(progress) as bar:
        task = bar.add_task("training", total=config.epochs, status="")
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            total_loss, total_correct = 0.0, 0
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                logits = model(x_train[batch])  # (B, n_classes)
                loss = loss_fn(logits, y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(batch)
                total_correct += int((logits.argmax(1) == y_train[batch]).sum())
            row = {
                "epoch": epoch,
                "loss": total_loss / len(order),
                "accuracy": total_correct / len(order),
                "val_loss": None,
                "val_accuracy": None,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if val is not None and len(val[0]):
                row["val_loss"], row["val_accuracy"] = evaluate_tensors(model, val, config.batch_size * 4)
            row["seconds"] = time.perf_counter() - started
            history.append(row)
            status = f"loss {row['loss']:.3f} acc {row['accuracy']:.3f}"
            if row["val_accuracy"] is not None:
                status += f" val_acc {row['val_accuracy']:.3f}"
            bar.update(task, advance=1, status=status)
    model.eval()
    return history


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    model.eval()
    if len(x) == 0:
        return torch.empty(0, 0)
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def evaluate_tensors(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 128) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in inference mode."""
    x, y = data
    logits = predict_logits(model, x, batch_size)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    return loss, accuracy
