"""Writing a metrics report: JSON for tools, a confusion-matrix PNG for people."""

from __future__ import annotations

from pathlib import Path

from logolens.evaluation.plots import plot_confusion
from logolens.utils import atomic_write_json


def write_report(report: dict, out: str | Path, title: str = "Confusion matrix", stem: str = "") -> dict[str, Path]:
    """``OUT/{stem}metrics.json`` and ``OUT/{stem}confusion.png``; returns their paths."""
    out = Path(out)
    paths = {
        "metrics": atomic_write_json(out / f"{stem}metrics.json", report),
        "confusion": plot_confusion(report["confusion_matrix"], report["brands"], out / f"{stem}confusion.png", title=title),
    }
    return paths


def summary_lines(report: dict, label: str) -> list[str]:
    """Human-readable headline numbers of a report."""
    return [
        f"{label}: {report['n_samples']} crops, {report['n_brands']} brands",
        f"  top-1 accuracy {report['top1_accuracy']:.3f}   top-5 accuracy {report['top5_accuracy']:.3f}   "
        f"macro F1 {report['macro_f1']:.3f}   (chance {report['chance_accuracy']:.3f})",
    ]
