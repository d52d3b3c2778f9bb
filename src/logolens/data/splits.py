"""Deterministic, stratified, image-level splits.

Splitting images rather than crops keeps every box of a photo on one side, so a model is never
validated on a logo it saw in training from another crop of the same photo. Images are grouped
by their primary brand (``none`` for no-logo images) and each group is shuffled and cut with the
same fractions, so every brand keeps about the same share on every side.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from logolens.data.dataset import LogoDataset


@dataclass(frozen=True)
class Split:
    """Train, validation and test parts of one dataset, with how they were drawn."""

    train: LogoDataset
    val: LogoDataset
    test: LogoDataset
    seed: int
    val_fraction: float
    test_fraction: float

    def part(self, name: str) -> LogoDataset:
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split part {name!r}; choose from: train, val, test")
        return getattr(self, name)

    def to_json(self) -> dict:
        """Seed, fractions and image names per part (relative to the images' common folder)."""
        everything = [r.path for part in (self.train, self.val, self.test) for r in part]
        root = Path(os.path.commonpath([str(p.resolve()) for p in everything])) if everything else Path()
        if root.is_file():
            root = root.parent

        def names(part: LogoDataset) -> list[str]:
            return [Path(os.path.relpath(r.path.resolve(), root)).as_posix() for r in part]

        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "train": names(self.train),
            "val": names(self.val),
            "test": names(self.test),
        }


def split_dataset(dataset: LogoDataset, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0) -> Split:
    """Split ``dataset`` by image, stratified by primary brand, reproducibly from ``seed``.

    Each brand group of ``n`` images gives ``round(n * test_fraction)`` test and
    ``round(n * val_fraction)`` validation images, but at least one of each asked-for part while
    images remain, and always at least one training image (test is served first).
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction:g}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(dataset):
        groups[record.primary_brand].append(index)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for key in sorted(groups):
        indices = groups[key]
        order = [indices[i] for i in rng.permutation(len(indices))]
        n_test = _part_size(len(order), test_fraction)
        n_val = min(_part_size(len(order), val_fraction), _part_size(len(order) - n_test, 1.0))
        parts["test"] += order[:n_test]
        parts["val"] += order[n_test : n_test + n_val]
        parts["train"] += order[n_test + n_val :]
    return Split(
        train=dataset.subset(sorted(parts["train"]), name=f"{dataset.name}-train"),
        val=dataset.subset(sorted(parts["val"]), name=f"{dataset.name}-val"),
        test=dataset.subset(sorted(parts["test"]), name=f"{dataset.name}-test"),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )


def _part_size(n: int, fraction: float) -> int:
    """``round(n * fraction)``, at least 1 for a positive fraction, leaving one image for training."""
    if fraction <= 0 or n < 2:
        return 0
    return min(max(int(round(n * fraction)), 1), n - 1)
