"""Pictures of results: the training history (as in the original post) and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from logolens.utils import atomic_write


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> Path:
    plt = pyplot()
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(figure)


def plot_history(history: Sequence[dict], path: str | Path, title: str = "Training history") -> Path:
    """Loss (top) and accuracy (bottom) per epoch, training and validation, like Keras' plot.
    A history without accuracy (the detector's) shows its loss parts at the bottom instead (those of
    its first head when several were trained, ``head``: a pair of loss lines each); a fine-tuning
    run's rows (``stage``) get a line where fine-tuning starts."""
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    if history and "accuracy" not in history[0]:
        heads = list(dict.fromkeys(row.get("head", 0) for row in history))
        for head in heads:
            rows = [row for row in history if row.get("head", 0) == head]
            epochs, suffix = [row["epoch"] for row in rows], f", head {head + 1}" if len(heads) > 1 else ""
            if head == heads[0]:
                for key in ("heat", "box", "size", "brand"):
                    if key in rows[0]:
                        accuracy_axis.plot(epochs, [row[key] for row in rows], "o-", markersize=2.5, label=f"{key} loss{suffix}")
            loss_axis.plot(epochs, [row["loss"] for row in rows], "o-", markersize=2.5, label=f"training{suffix}")
            if any("val_loss" in row for row in rows):
                loss_axis.plot(epochs, [row.get("val_loss", np.nan) for row in rows], "o-", markersize=2.5, label=f"validation{suffix}")
        for axis, label in ((loss_axis, "loss"), (accuracy_axis, "training loss parts")):
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            axis.legend(loc="best")
        accuracy_axis.set_xlabel("epoch")
        loss_axis.set_title(title)
        return save_figure(figure, path)
    tuned = [row["epoch"] for row in history if row.get("stage") == "finetune"]
    for axis, key, label in ((loss_axis, "loss", "loss"), (accuracy_axis, "accuracy", "accuracy")):
        axis.plot(epochs, [row[key] for row in history], "o-", markersize=2.5, label="training")
        val = [row.get(f"val_{key}") for row in history]
        if any(v is not None for v in val):
            axis.plot(epochs, [np.nan if v is None else v for v in val], "o-", markersize=2.5, label="validation")
        if tuned:  # the head first, on frozen embeddings; then the last blocks with it
            axis.axvline(tuned[0] - 0.5, color="grey", linestyle="--", linewidth=1, label="fine-tuning starts")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(loc="best")
    accuracy_axis.set_ylim(-0.02, 1.02)
    accuracy_axis.set_xlabel("epoch")
    loss_axis.set_title(title)
    return save_figure(figure, path)


def plot_confusion(matrix: np.ndarray | Sequence[Sequence[int]], brands: Sequence[str], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Row-normalised confusion matrix (rows: true brand, columns: predicted brand), counts written in."""
    plt = pyplot()
    matrix = np.asarray(matrix, dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    side = max(4.0, 0.32 * len(brands) + 2.5)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(brands)), brands, rotation=90, fontsize=7)
    axis.set_yticks(range(len(brands)), brands, fontsize=7)
    axis.set_xlabel("predicted brand")
    axis.set_ylabel("true brand")
    axis.set_title(title)
    if len(brands) <= 40:
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                axis.text(j, i, int(count), ha="center", va="center", fontsize=6, color="white" if normalised[i, j] > 0.5 else "black")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of true brand")
    return save_figure(figure, path)
