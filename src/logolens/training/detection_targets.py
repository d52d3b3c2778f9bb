"""What the dense detector head should output for an image, the loss against it, and decoding.

Targets live on the patch grid (stride 14 canvas pixels, see :mod:`logolens.models.detector`):

* ``heat`` (h, w): 1 at the patch holding a logo's centre, a Gaussian around it (sigma a sixth of
  the box size, at least half a patch) inside the box, 0 elsewhere: CenterNet's heatmap, whose
  penalty-reduced focal loss does not punish near-misses next to a centre as hard as background;
* ``box`` (h, w, 4): for patches inside a box (the box whose Gaussian is highest there), that
  box in canvas pixels; regression learns it from every such patch, weighted by ``weight``;
* ``brand`` (h, w): the brand index of that box, -1 where there is none.

Boxes are learnt by two losses on the same patches: GIoU, and an L1 loss on the logarithm of
the four distances (:func:`log_distance_loss`). GIoU alone lets small logos come out far too
large: a predicted box that contains the logo has GIoU = IoU = logo area / box area, whose pull to
shrink fades as the box grows, so the head settles on the large sizes most training logos have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from logolens.models.detector import PATCH, box_distances, decode_boxes, patch_centres

SIZE_LOSS_WEIGHT = 1.0  # weight of log_distance_loss in detection_loss
MIN_DISTANCE = 0.25  # patches: target distances are floored here before the logarithm (a patch centre on a box edge)


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


def log_distance_loss(ltrb: torch.Tensor, target_box: torch.Tensor, stride: int = PATCH) -> torch.Tensor:
    """``|log predicted - log target|`` of the four distances from each patch centre to the box
    edges, averaged over the four: ``ltrb`` (B, 4, h, w) predicted, in patches; ``target_box``
    (B, h, w, 4) canvas pixels xyxy. Returns (B, h, w); only patches inside their box mean anything.

    Scale-free: a box twice too large costs log 2 whether the logo is 20 or 200 pixels wide, and
    the pull does not fade as a wrong box grows (unlike GIoU's; see the module docstring)."""
    target = box_distances(target_box.to(ltrb), stride)  # (B, h, w, 4)
    predicted = ltrb.permute(0, 2, 3, 1)
    return (torch.log(predicted) - torch.log(target.clamp_min(MIN_DISTANCE))).abs().mean(dim=-1)


def detection_loss(
    heat_logits: torch.Tensor, ltrb: torch.Tensor, logits: torch.Tensor, targets: DenseTargets
) -> tuple[torch.Tensor, dict[str, float]]:
    """Penalty-reduced focal loss on the heatmap + GIoU and log-distance L1 on boxes +
    cross-entropy on brands.

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
        size_loss = (log_distance_loss(ltrb, targets.box)[inside] * w).sum() / w.sum()
        ce = F.cross_entropy(logits.permute(0, 2, 3, 1)[inside], targets.brand[inside], reduction="none")
        brand_loss = (ce * w).sum() / w.sum()
    else:
        box_loss = size_loss = brand_loss = heat_logits.sum() * 0.0
    total = heat_loss + 2.0 * box_loss + SIZE_LOSS_WEIGHT * size_loss + brand_loss
    return total, {"heat": heat_loss.item(), "box": box_loss.item(), "size": size_loss.item(), "brand": brand_loss.item()}
