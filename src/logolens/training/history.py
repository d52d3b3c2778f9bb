"""The per-epoch training history as CSV (one row per epoch, Keras' column names)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from logolens.utils import atomic_write_text

COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def write_history_csv(history: Sequence[dict], path: str | Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({key: ("" if row.get(key) is None else row[key]) for key in COLUMNS})
    return atomic_write_text(path, buffer.getvalue())
