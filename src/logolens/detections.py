"""``Detections``: the logos found in one image, as one immutable value of parallel arrays.

Boxes are ``xyxy`` float32 in pixels of the original image as stored on disk, ``(x1, y1)`` the
top-left corner and ``(x2, y2)`` the bottom-right one (exclusive), so ``x2 - x1`` is the width.
``score`` is a calibrated probability (0..1) that the box is a logo of ``brand``; ``source`` says
which part of logolens named the brand (``trained`` classes, the brand ``gallery``, ``ocr``).

Every filter returns a new object (``dets[dets.score > 0.5]``, ``dets.nms()``); nothing is
changed in place, so a detection result can be shared between the CLI, the API and a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SOURCES = ("trained", "gallery", "ocr")


@dataclass(frozen=True, eq=False)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32 pixels, x1 < x2, y1 < y2
    score: np.ndarray  # (N,) float32 calibrated probability
    brand_id: np.ndarray  # (N,) int64 index into the model's brand list (-1: not a trained class)
    brand: np.ndarray  # (N,) object array of brand names
    source: np.ndarray = None  # (N,) object array, one of SOURCES; default all "trained"
    data: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-box arrays, (N, ...)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", _vector(self.score, np.float32, n, "score"))
        object.__setattr__(self, "brand_id", _vector(self.brand_id, np.int64, n, "brand_id"))
        object.__setattr__(self, "brand", _vector(self.brand, object, n, "brand"))
        source = np.full(n, "trained", dtype=object) if self.source is None else self.source
        object.__setattr__(self, "source", _vector(source, object, n, "source"))
        unknown = set(self.source.tolist()) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown detection source {sorted(unknown)[0]!r}; choose from: {', '.join(SOURCES)}")
        data = {key: np.asarray(value) for key, value in self.data.items()}
        for key, value in data.items():
            if len(value) != n:
                raise ValueError(f"data[{key!r}] has {len(value)} rows for {n} detections")
        object.__setattr__(self, "data", data)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, object))

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """All detections of ``parts`` in one object (``data`` keys must agree)."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        keys = set(parts[0].data)
        if any(set(part.data) != keys for part in parts):
            raise ValueError("cannot merge detections whose data keys differ")
        return cls(
            np.concatenate([p.xyxy for p in parts]), np.concatenate([p.score for p in parts]),
            np.concatenate([p.brand_id for p in parts]), np.concatenate([p.brand for p in parts]),
            np.concatenate([p.source for p in parts]),
            {key: np.concatenate([p.data[key] for p in parts]) for key in keys},
        )

    # -- indexing ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> Detections:
        """A new ``Detections`` of the selected rows (an int keeps one row as a length-1 result)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        index = np.asarray(index) if not isinstance(index, slice) else index
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
        return Detections(
            self.xyxy[index], self.score[index], self.brand_id[index], self.brand[index], self.source[index],
            {key: value[index] for key, value in self.data.items()},
        )

    # -- post-processing --------------------------------------------------------------------
    @property
    def area(self) -> np.ndarray:
        return np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None) * np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)

    def sorted(self) -> Detections:
        """Highest score first (ties keep their order)."""
        return self[np.argsort(-self.score, kind="stable")]

    def nms(self, iou_threshold: float = 0.5, class_aware: bool = True) -> Detections:
        """Greedy non-maximum suppression, sorted by score: a box is dropped when it overlaps a
        higher-scoring kept box (of the same brand, if ``class_aware``) by IoU > ``iou_threshold``."""
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        ranked = self.sorted()
        if len(ranked) < 2:
            return ranked
        overlap = box_iou(ranked.xyxy, ranked.xyxy)
        if class_aware:
            same = ranked.brand[:, None] == ranked.brand[None, :]
            overlap = np.where(same, overlap, 0.0)
        keep = np.ones(len(ranked), dtype=bool)
        for i in range(len(ranked)):
            if keep[i]:
                later = np.arange(len(ranked)) > i
                keep &= ~(later & (overlap[i] > iou_threshold))
        return ranked[keep]

    def scaled(self, sx: float, sy: float) -> Detections:
        """Boxes multiplied by ``(sx, sy)``: from a resized image's pixels back to the original's."""
        factors = np.array([sx, sy, sx, sy], dtype=np.float32)
        return Detections(self.xyxy * factors, self.score, self.brand_id, self.brand, self.source, self.data)

    def clipped(self, width: float, height: float) -> Detections:
        """Boxes clipped to the image ``[0, width] x [0, height]``; boxes left empty are dropped."""
        xyxy = clip_boxes(self.xyxy, width, height)
        clipped = Detections(xyxy, self.score, self.brand_id, self.brand, self.source, self.data)
        return clipped[(xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])]

    # -- output contracts -------------------------------------------------------------------
    def to_json(self, digits: int = 2) -> list[dict[str, Any]]:
        """``[{"brand", "score", "box": [x1, y1, x2, y2], "source"}]`` in row order (pixels)."""
        return [
            {
                "brand": str(self.brand[i]),
                "score": round(float(self.score[i]), 6),
                "box": [round(float(v), digits) for v in self.xyxy[i]],
                "source": str(self.source[i]),
            }
            for i in range(len(self))
        ]

    def to_vision(self) -> list[dict[str, Any]]:
        """Google Cloud Vision ``logoAnnotations``: ``description``, ``score`` and a
        ``boundingPoly`` of four integer vertices clockwise from the top-left corner."""
        annotations = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (int(round(float(v))) for v in self.xyxy[i])
            vertices = [{"x": x1, "y": y1}, {"x": x2, "y": y1}, {"x": x2, "y": y2}, {"x": x1, "y": y2}]
            annotations.append(
                {"mid": "", "description": str(self.brand[i]), "score": round(float(self.score[i]), 6),
                 "boundingPoly": {"vertices": vertices}}
            )
        return annotations


def clip_boxes(xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    """A copy of boxes ``(N, 4)`` xyxy clipped to the image ``[0, width] x [0, height]``."""
    xyxy = np.array(xyxy, copy=True)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return xyxy


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), xyxy."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _vector(values: Any, dtype: Any, n: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=dtype).reshape(-1) if len(values) else np.zeros(0, dtype=dtype)
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} boxes")
    return array
