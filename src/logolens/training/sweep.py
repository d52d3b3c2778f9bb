"""The hyperparameter study the original post planned: a grid over learning rate, image size,
head and backbone, every run on the same image-level split, one row of results per run.

Frozen-backbone runs share the embedding cache, so after the first run of a backbone and image
size, each further learning rate or head costs seconds.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from logolens.classifier import LogoClassifier
from logolens.data.dataset import LogoDataset
from logolens.data.splits import split_dataset
from logolens.models.registry import get_entry
from logolens.utils import atomic_write_text

COLUMNS = ("model", "image_size", "head", "lr", "val_top1", "val_top5", "val_macro_f1", "val_ece", "train_seconds", "note")


def run_sweep(
    dataset: LogoDataset,
    models: Sequence[str],
    lrs: Sequence[float | None] = (None,),
    image_sizes: Sequence[int | None] = (None,),
    heads: Sequence[str] = ("linear",),
    epochs: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[dict]:
    """Train and score one classifier per grid point; ``None`` means the model's own default.

    Heads only vary for pretrained backbones; an image size a model cannot take is reported in
    the ``note`` column instead of failing the whole study.
    """
    for name in models:
        get_entry(name)  # unknown names fail before any training
    split = split_dataset(dataset, val_fraction, 0.0, seed)
    rows = []
    for model, size, head, lr in itertools.product(models, image_sizes, heads, lrs):
        if not get_entry(model).pretrained and head != heads[0]:
            continue  # the seed CNN has no separate head: one row per lr and size is enough
        row = {"model": model, "image_size": size, "head": head if get_entry(model).pretrained else "-", "lr": lr, "note": ""}
        try:
            classifier = LogoClassifier(model=model, image_size=size, head=head, lr=lr, epochs=epochs, seed=seed,
                                        cache_dir=cache_dir, progress=progress)
            started = time.perf_counter()
            classifier.fit(split.train, split.val)
            row["train_seconds"] = time.perf_counter() - started
            report, _ = classifier.evaluate(split.val)
        except ValueError as error:
            row["note"] = f"skipped: {error}"
            rows.append(row)
            continue
        row.update(image_size=classifier.params_["image_size"], lr=classifier.params_["lr"], val_top1=report["top1_accuracy"],
                   val_top5=report["top5_accuracy"], val_macro_f1=report["macro_f1"], val_ece=report["ece"])
        rows.append(row)
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 else f"{value:.3f}"
    return str(value)


def write_sweep(rows: Sequence[dict], out: str | Path) -> dict[str, Path]:
    """``sweep.csv``, ``sweep.md`` (best first) and ``sweep.png`` (val top-1 vs lr per model)."""
    out = Path(out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    ranked = sorted(rows, key=lambda r: (r.get("val_top1") is None, -(r.get("val_top1") or 0.0)))
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(_cell(r.get(k)) for k in COLUMNS) + " |" for r in ranked]
    return {
        "csv": atomic_write_text(out / "sweep.csv", buffer.getvalue()),
        "markdown": atomic_write_text(out / "sweep.md", "\n".join(table) + "\n"),
        "plot": plot_sweep(rows, out / "sweep.png"),
    }


def plot_sweep(rows: Sequence[dict], path: str | Path) -> Path:
    from logolens.evaluation.plots import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    done = [r for r in rows if r.get("val_top1") is not None]
    for key in sorted({(r["model"], r["head"], r["image_size"]) for r in done}, key=str):
        points = sorted((r["lr"], r["val_top1"]) for r in done if (r["model"], r["head"], r["image_size"]) == key)
        label = f"{key[0]} ({key[1]} head, {key[2]} px)" if key[1] != "-" else f"{key[0]} ({key[2]} px)"
        axis.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label)
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("validation top-1 accuracy")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="best")
    axis.set_title("Hyperparameter sweep")
    return save_figure(figure, path)
