"""The per-epoch training history as CSV (one row per epoch, Keras' column names)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from logolens.utils import atomic_write_text

COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def write_history_csv(history: Sequence[dict], path: str | Path) -> Path:
    """Keras' columns for classifiers; any other history (the detector's loss parts) gets its own
    keys as columns, in first-seen order."""
    keys = list(dict.fromkeys(key for row in history for key in row))
    columns = COLUMNS if set(keys) <= set(COLUMNS) else keys
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: ("" if row.get(key) is None else row[key]) for key in columns})
    return atomic_write_text(path, buffer.getvalue())
