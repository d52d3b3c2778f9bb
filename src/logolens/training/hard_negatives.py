"""Hard negatives for the re-scoring crop classifier: where the trained detector fires on no logo.

A crop classifier that re-scores the detector's best candidates but learnt from logo crops only
names *some* brand with confidence even for a crop of a shop sign, a face or a car grille, and
those false candidates then compete with the real logo for the image's answer. The classic
second stage of a two-stage detector (R-CNN's "K + 1" classes) fixes that: the classifier also
learns a ``BACKGROUND`` class, from crops around the detector's own heatmap peaks that overlap no
logo box. Its probability is the detector's "is this a logo at all?" evidence
(``log_foreground_probability`` in :data:`logolens.detector.FEATURES`).

Mining uses only the full-size canvases and raw heatmap peaks (no refinement), so it costs one pass
of the small head over grids that training already holds, plus the backbone embeddings of the new
crops (cached like every crop embedding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from logolens.data.dataset import Box, ImageRecord, LogoDataset
from logolens.detections import box_iou, clip_boxes
from logolens.inference.letterbox import placement_for
from logolens.models.detector import decode_peaks

BACKGROUND = "<background>"  # the crop classifier's extra class; a dataset with a brand of that name is refused
PER_IMAGE = 6  # hard negatives kept per training image (the best-scoring false peaks)
MAX_IOU = 0.3  # a peak overlapping a logo box less than this is background
MIN_SIDE = 4.0  # pixels; thinner peaks are not worth a crop


@torch.no_grad()
def hard_negative_boxes(head: torch.nn.Module, records: Sequence[ImageRecord], grids: torch.Tensor, image_size: int,
                        per_image: int = PER_IMAGE, max_iou: float = MAX_IOU, batch_size: int = 32) -> list[np.ndarray]:
    """For each record, up to ``per_image`` boxes ``(n, 4)`` in its pixels where the dense ``head``
    (run on the record's canvas ``grids[i]``, letterboxed at full size) peaks but no logo box
    overlaps by ``max_iou`` or more; strongest peaks first."""
    found = []
    for start in range(0, len(records), batch_size):
        peaks = decode_peaks(*head(grids[start:start + batch_size].float()), max_peaks=4 * per_image)
        for record, (boxes, _, _) in zip(records[start:start + batch_size], peaks):
            xyxy = clip_boxes(placement_for(record.width, record.height, image_size).to_image(boxes).astype(np.float64),
                              record.width, record.height)
            keep = (xyxy[:, 2] - xyxy[:, 0] >= MIN_SIDE) & (xyxy[:, 3] - xyxy[:, 1] >= MIN_SIDE)
            if record.boxes:
                keep &= box_iou(xyxy, record.box_xyxy).max(axis=1) < max_iou
            found.append(xyxy[keep][:per_image])
    return found


def with_background(dataset: LogoDataset, negatives: dict[ImageRecord, np.ndarray]) -> LogoDataset:
    """``dataset`` with each record's hard-negative boxes (``negatives[record]``, if any) added as
    ``BACKGROUND`` boxes; its brand list is ``dataset``'s followed by ``BACKGROUND``."""
    if BACKGROUND in dataset.brands:
        raise ValueError(f"dataset {dataset.name!r} has a brand named {BACKGROUND!r}, which logolens reserves")
    augmented = [replace(record, boxes=record.boxes + tuple(Box(*map(float, box), BACKGROUND) for box in negatives.get(record, ())))
                 for record in dataset]
    return LogoDataset(augmented, (*dataset.brands, BACKGROUND), name=f"{dataset.name}+background")
