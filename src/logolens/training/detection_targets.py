"""What the dense detector head should output for an image, the loss against it, and decoding.

Targets live on the patch grid (stride 14 canvas pixels, see :mod:`logolens.models.detector`):

* ``heat`` (h, w): 1 at the patch holding a logo's centre, a Gaussian around it (sigma a sixth of
  the box size, at least half a patch) inside the box, 0 elsewhere: CenterNet's heatmap, whose
  penalty-reduced focal loss does not punish near-misses next to a centre as hard as background;
* ``box`` (h, w, 4): for patches inside a box (the box whose Gaussian is highest there), that
  box in canvas pixels; regression learns it from every such patch, weighted by ``weight``;
* ``brand`` (h, w): the brand index of that box, -1 where there is none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from logolens.models.detector import PATCH, decode_boxes, patch_centres


@dataclass(frozen=True)
class DenseTargets:
    heat: torch.Tensor  # (h, w) float in [0, 1], exactly 1 at logo centres
    box: torch.Tensor  # (h, w, 4) float canvas pixels xyxy (zeros where weight is 0)
    brand: torch.Tensor  # (h, w) long, -1: no logo
    weight: torch.Tensor  # (h, w) float regression/brand weight, 0 outside logos

    @classmethod
    def stack(cls, targets: list[DenseTargets]) -> DenseTargets:
        return cls(*(torch.stack([getattr(t, name) for t in targets]) for name in ("heat", "box", "brand", "weight")))


def dense_targets(boxes: np.ndarray, labels: np.ndarray, grid: int, stride: int = PATCH) -> DenseTargets:
    """Targets for one canvas with logo ``boxes`` (M, 4) canvas pixels and brand ``labels`` (M,)."""
    cx, cy = patch_centres(grid, grid, stride)
    heat = np.zeros((grid, grid), np.float32)
    box = np.zeros((grid, grid, 4), np.float32)
    brand = np.full((grid, grid), -1, np.int64)
    for (x1, y1, x2, y2), label in zip(np.asarray(boxes, np.float32).reshape(-1, 4), labels):
        if x2 <= x1 or y2 <= y1 or x2 <= 0 or y2 <= 0 or x1 >= grid * stride or y1 >= grid * stride:
            continue
        bx, by = (x1 + x2) / 2, (y1 + y2) / 2
        sx, sy = max((x2 - x1) / 6, stride / 2), max((y2 - y1) / 6, stride / 2)
        gauss = np.exp(-((cx - bx) ** 2) / (2 * sx**2) - ((cy - by) ** 2) / (2 * sy**2))
        gauss *= (cx >= x1) & (cx <= x2) & (cy >= y1) & (cy <= y2)
        i, j = min(int(by // stride), grid - 1), min(int(bx // stride), grid - 1)
        gauss[max(i, 0), max(j, 0)] = 1.0  # the centre patch, even for a logo smaller than a patch
        better = gauss > heat
        heat = np.where(better, gauss, heat)
        box[better] = (x1, y1, x2, y2)
        brand[better] = int(label)
    weight = np.where(brand >= 0, heat, 0.0).astype(np.float32)
    return DenseTargets(torch.from_numpy(heat.astype(np.float32)), torch.from_numpy(box), torch.from_numpy(brand), torch.from_numpy(weight))


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - GIoU`` of matching boxes (N, 4) xyxy: smooth even when boxes do not overlap."""
    x1, y1 = torch.maximum(pred[:, 0], target[:, 0]), torch.maximum(pred[:, 1], target[:, 1])
    x2, y2 = torch.minimum(pred[:, 2], target[:, 2]), torch.minimum(pred[:, 3], target[:, 3])
    inter = (x2 - x1).clamp_min(0) * (y2 - y1).clamp_min(0)
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = area_p + area_t - inter
    hull = (torch.maximum(pred[:, 2], target[:, 2]) - torch.minimum(pred[:, 0], target[:, 0])) * (
        torch.maximum(pred[:, 3], target[:, 3]) - torch.minimum(pred[:, 1], target[:, 1])
    )
    iou = inter / union.clamp_min(1e-6)
    return 1 - (iou - (hull - union) / hull.clamp_min(1e-6))


def detection_loss(
    heat_logits: torch.Tensor, ltrb: torch.Tensor, logits: torch.Tensor, targets: DenseTargets
) -> tuple[torch.Tensor, dict[str, float]]:
    """Penalty-reduced focal loss on the heatmap + GIoU on boxes + cross-entropy on brands.

    Shapes: ``heat_logits`` (B, h, w), ``ltrb`` (B, 4, h, w), ``logits`` (B, K, h, w).
    Returns the total and its parts (floats, for the history).
    """
    p = torch.sigmoid(heat_logits).clamp(1e-4, 1 - 1e-4)
    centre = targets.heat >= 1.0
    n_logos = centre.sum().clamp_min(1)
    pos = -(((1 - p) ** 2) * torch.log(p))[centre].sum()
    neg = -(((1 - targets.heat) ** 4) * (p**2) * torch.log(1 - p))[~centre].sum()
    heat_loss = (pos + neg) / n_logos
    inside = targets.weight > 0
    if inside.any():
        w = targets.weight[inside]
        box_loss = (giou_loss(decode_boxes(ltrb)[inside], targets.box[inside]) * w).sum() / w.sum()
        ce = F.cross_entropy(logits.permute(0, 2, 3, 1)[inside], targets.brand[inside], reduction="none")
        brand_loss = (ce * w).sum() / w.sum()
    else:
        box_loss = brand_loss = heat_logits.sum() * 0.0
    total = heat_loss + 2.0 * box_loss + brand_loss
    return total, {"heat": heat_loss.item(), "box": box_loss.item(), "brand": brand_loss.item()}
