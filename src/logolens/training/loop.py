"""The training loop for classifiers on in-memory tensors, Keras-compatible where it matters.

Keras' RMSprop (``rho=0.9``, ``epsilon=1e-7`` added outside the square root) is exactly torch's
``RMSprop(alpha=0.9, eps=1e-7)``; its ``decay`` argument shrinks the learning rate per *batch*
as ``lr / (1 + decay * step)``, reproduced here with a ``LambdaLR`` stepped every batch. Like
Keras' ``fit``, training loss and accuracy are the running means over the epoch's batches
(dropout on), validation metrics are computed afterwards in inference mode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from logolens.inference.onnx_runtime import TorchRunner
from logolens.progress import make_progress
from logolens.utils import unknown_choice_message

OPTIMIZERS = ("rmsprop", "adamw", "sgd")
SCHEDULES = ("keras", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 150  # the post trained for 150 epochs
    lr: float = 1e-4  # the post's RMSprop learning rate
    decay: float = 1e-6  # Keras-style per-batch decay: lr / (1 + decay * step)
    batch_size: int = 32  # Keras' default batch size
    optimizer: str = "rmsprop"
    weight_decay: float = 0.0  # for adamw / sgd
    schedule: str = "keras"  # "keras": lr / (1 + decay * step); "cosine": to 0 over all steps
    label_smoothing: float = 0.0  # 0.1 softens targets; 0 is plain categorical cross-entropy
    patience: int = 0  # stop after this many epochs without a better val_loss (0: never); best weights kept
    seed: int = 0  # shuffling and dropout
    warmup: float = 0.0  # cosine only: share of the steps over which the lr rises linearly from 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(unknown_choice_message("optimizer", self.optimizer, OPTIMIZERS))
        if self.schedule not in SCHEDULES:
            raise ValueError(unknown_choice_message("schedule", self.schedule, SCHEDULES))
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")

    def to_json(self) -> dict:
        return asdict(self)


def parameter_groups(model: nn.Module, lr: float, lr_scale: dict[str, float] | None = None) -> list[dict]:
    """The trainable parameters of ``model`` as optimizer groups: a parameter whose name starts
    with a key of ``lr_scale`` learns at ``lr`` times its value, the rest at ``lr``."""
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            scale = next((value for prefix, value in (lr_scale or {}).items() if name.startswith(prefix)), 1.0)
            groups.setdefault(scale, []).append(parameter)
    return [{"params": params, "lr": lr * scale} for scale, params in groups.items()]


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.lr, alpha=0.9, eps=1e-7)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


TrainBatches = Callable[[torch.Tensor], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""Given a permutation of sample indices, yields ``(x, y)`` batches (e.g. with fresh augmentation)."""


def tensor_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> TrainBatches:
    def batches(order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            yield x[batch], y[batch]

    return batches


def fit_classifier(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor] | tuple[int, TrainBatches],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    config: TrainConfig,
    progress: bool = False,
    lr_scale: dict[str, float] | None = None,
) -> list[dict]:
    """Train ``model`` (logits out); returns one history row per epoch.

    ``train`` is ``(x, y)`` tensors, or ``(n_samples, batches)`` where ``batches(order)`` yields
    ``(x, y)`` for a permutation of the samples (how augmented crops are fed). Rows hold
    ``epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds`` (validation values ``None``
    without ``val``). With ``patience``, training stops early and the best weights are restored.
    ``lr_scale`` sets other learning rates for parts of the model (see :func:`parameter_groups`);
    the row's ``lr`` is that of the first group.
    """
    if isinstance(train[0], torch.Tensor):
        n_samples, batches = len(train[0]), tensor_batches(train[0], train[1], config.batch_size)
    else:
        n_samples, batches = train
    if n_samples == 0:
        raise ValueError("no training samples")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout masks
    optimizer = make_optimizer(parameter_groups(model, config.lr, lr_scale), config)
    total_steps = config.epochs * -(-n_samples // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, total_steps))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    history: list[dict] = []
    best_loss, best_state, stale = float("inf"), None, 0
    with make_progress(progress) as bar:
        task = bar.add_task("training", total=config.epochs, status="")
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            model.train()
            total_loss, total_correct, seen = 0.0, 0, 0
            for x, y in batches(torch.randperm(n_samples, generator=generator)):
                logits = model(x)  # (B, n_classes)
                loss = loss_fn(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(y)
                total_correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
            row = {"epoch": epoch, "loss": total_loss / seen, "accuracy": total_correct / seen,
                   "val_loss": None, "val_accuracy": None, "lr": optimizer.param_groups[0]["lr"]}
            if val is not None and len(val[0]):
                row["val_loss"], row["val_accuracy"] = evaluate_tensors(model, val, config.batch_size * 4)
            row["seconds"] = time.perf_counter() - started
            history.append(row)
            status = f"loss {row['loss']:.3f} acc {row['accuracy']:.3f}"
            if row["val_accuracy"] is not None:
                status += f" val_acc {row['val_accuracy']:.3f}"
            bar.update(task, advance=1, status=status)
            if config.patience and row["val_loss"] is not None:
                if row["val_loss"] < best_loss - 1e-6:
                    best_loss, stale = row["val_loss"], 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= config.patience:
                        bar.update(task, total=epoch, status=status + " (early stop)")
                        break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _lr_factor(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    if config.schedule == "cosine":
        warmup = config.warmup * total_steps
        return lambda step: min(1.0, (step + 1) / warmup if warmup else 1.0) * \
            0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
    return lambda step: 1.0 / (1.0 + config.decay * step)


def evaluate_tensors(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 128) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in inference mode."""
    x, y = data
    logits = TorchRunner(model, batch_size).logits(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    return loss, accuracy
