"""Dense detector targets, loss and decoding on hand-made grids."""

from __future__ import annotations

import numpy as np
import torch

from logolens.models.detector import PATCH, box_distances, decode_boxes, decode_peaks
from logolens.training.detection_targets import dense_targets, detection_loss, giou_loss, log_distance_loss


def test_targets_peak_at_each_logo_centre_with_its_box_and_brand():
    boxes = np.array([[28, 28, 84, 70], [150, 150, 158, 160]], np.float32)  # a big logo and one smaller than a patch
    targets = dense_targets(boxes, np.array([2, 0]), grid=16)
    assert targets.heat.shape == (16, 16)
    assert targets.heat[3, 4] == 1.0  # centre (56, 49) lies in patch row 3, column 4
    assert targets.heat[11, 11] == 1.0  # the tiny logo (centre 154, 155) still gets its centre patch
    assert int((targets.heat == 1.0).sum()) == 2
    assert targets.brand[3, 4] == 2 and targets.brand[11, 11] == 0
    assert targets.brand[0, 0] == -1 and targets.weight[0, 0] == 0
    np.testing.assert_allclose(targets.box[3, 4].numpy(), boxes[0])
    inside = targets.brand == 2
    assert inside.sum() > 4 and (targets.heat[inside] > 0).all()


def test_boxes_outside_the_canvas_are_ignored():
    targets = dense_targets(np.array([[500, 500, 520, 520]], np.float32), np.array([1]), grid=8)
    assert float(targets.heat.sum()) == 0.0


def test_decode_boxes_measures_from_patch_centres():
    ltrb = torch.ones(1, 4, 2, 3)  # one patch each way
    boxes = decode_boxes(ltrb)
    assert boxes.shape == (1, 2, 3, 4)
    np.testing.assert_allclose(boxes[0, 1, 2].numpy(), [2.5 * PATCH - PATCH, 1.5 * PATCH - PATCH, 2.5 * PATCH + PATCH, 1.5 * PATCH + PATCH])
    np.testing.assert_allclose(box_distances(boxes).permute(0, 3, 1, 2).numpy(), ltrb.numpy(), atol=1e-5)  # and back


def test_giou_loss_is_zero_for_identical_and_positive_for_disjoint_boxes():
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    loss = giou_loss(a, b)
    assert float(loss[0]) < 1e-6 and float(loss[1]) > 1.0


def test_perfect_outputs_have_lower_loss_than_uninformed_ones_and_decode_to_the_logo():
    grid = 8
    box = np.array([[30, 30, 70, 60]], np.float32)
    targets = dense_targets(box, np.array([1]), grid=grid)
    batch = type(targets).stack([targets])
    centre = batch.heat >= 1
    heat_good = torch.where(centre, torch.tensor(6.0), torch.tensor(-6.0))
    cx, cy = (np.arange(grid) + 0.5) * PATCH, (np.arange(grid) + 0.5) * PATCH
    ltrb = torch.zeros(1, 4, grid, grid)
    ltrb[0, 0] = torch.from_numpy((cx[None, :] - 30) / PATCH).float().expand(grid, grid)
    ltrb[0, 1] = torch.from_numpy((cy[:, None] - 30) / PATCH).float().expand(grid, grid)
    ltrb[0, 2] = torch.from_numpy((70 - cx[None, :]) / PATCH).float().expand(grid, grid)
    ltrb[0, 3] = torch.from_numpy((60 - cy[:, None]) / PATCH).float().expand(grid, grid)
    logits_good = torch.zeros(1, 3, grid, grid)
    logits_good[:, 1] = 8.0
    good, parts = detection_loss(heat_good, ltrb.clamp_min(0.01), logits_good, batch)
    bad, _ = detection_loss(torch.zeros(1, grid, grid), torch.ones(1, 4, grid, grid), torch.zeros(1, 3, grid, grid), batch)
    assert float(good) < 0.1 < float(bad)
    assert set(parts) == {"heat", "box", "size", "brand"}
    boxes, heat, probs = decode_peaks(heat_good, ltrb.clamp_min(0.01), logits_good)[0]
    assert len(boxes) == 1 and heat[0] > 0.99 and probs[0].argmax() == 1
    np.testing.assert_allclose(boxes[0], box[0], atol=1e-3)


def _centred_ltrb(grid: int, half_side_patches: float) -> torch.Tensor:
    """Predicted distances (1, 4, grid, grid) of a square box ``2 * half_side_patches`` wide centred on every patch."""
    return torch.full((1, 4, grid, grid), float(half_side_patches))


def _box_on_patch(grid: int, row: int, col: int, half_side_patches: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A square logo ``2 * half_side_patches`` wide centred on patch (row, col): as target boxes
    (1, grid, grid, 4), set at that patch only, and as its xyxy (1, 4)."""
    cx, cy, half = (col + 0.5) * PATCH, (row + 0.5) * PATCH, half_side_patches * PATCH
    xyxy = torch.tensor([[cx - half, cy - half, cx + half, cy + half]])
    boxes = torch.zeros(1, grid, grid, 4)
    boxes[0, row, col] = xyxy[0]
    return boxes, xyxy


def test_log_distance_loss_is_scale_free():
    grid = 8
    row, col = 3, 4
    for half in (0.5, 2.0):  # a logo one patch wide and one four patches wide, centred on the patch
        box, _ = _box_on_patch(grid, row, col, half)
        exact = log_distance_loss(_centred_ltrb(grid, half), box)[0, row, col]
        twice = log_distance_loss(_centred_ltrb(grid, 2 * half), box)[0, row, col]
        assert float(exact) < 1e-6
        assert abs(float(twice) - np.log(2)) < 1e-5  # twice too large costs log 2 at any size


def test_log_distance_pull_on_a_far_too_large_box_does_not_fade_like_giou():
    """Why the size loss exists: GIoU's push to shrink a box that contains the logo weakens as the
    box grows, so small logos were predicted several times too large; the log loss pushes alike."""
    grid = 8
    row, col, half = 3, 4, 0.5
    box, target = _box_on_patch(grid, row, col, half)
    pulls = {}
    for factor in (2.0, 10.0):
        log_size = torch.full((1, 4, grid, grid), float(np.log(half * factor)), requires_grad=True)
        ltrb = torch.exp(log_size)  # the head predicts log distances, as DenseLogoHead does
        giou = giou_loss(decode_boxes(ltrb)[0, row, col][None], target)[0]
        giou_pull = torch.autograd.grad(giou, log_size)[0][0, :, row, col].abs().mean()
        log_pull = torch.autograd.grad(log_distance_loss(torch.exp(log_size), box)[0, row, col], log_size)[0][0, :, row, col].abs().mean()
        pulls[factor] = float(giou_pull), float(log_pull)
    assert pulls[10.0][0] < 0.1 * pulls[2.0][0]  # GIoU: ten times too large is pulled back far less than twice
    assert abs(pulls[10.0][1] - pulls[2.0][1]) < 1e-6 and pulls[10.0][1] > 0.2  # log distances: the same pull
