"""Hard negatives: the detector's false peaks become the crop classifier's ``BACKGROUND`` crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from logolens.data.dataset import Box, ImageRecord, LogoDataset
from logolens.models.detector import PATCH
from logolens.training.hard_negatives import BACKGROUND, hard_negative_boxes, with_background

GRID = 8  # an 8 x 8 patch grid: a 112 px canvas


class PeaksAt(torch.nn.Module):
    """A stand-in head: heat peaks at fixed cells (strongest first), every box one patch each way."""

    def __init__(self, cells: list[tuple[int, int]]):
        super().__init__()
        self.cells = cells

    def forward(self, grids: torch.Tensor):
        heat = torch.full((len(grids), GRID, GRID), -10.0)
        for rank, (row, col) in enumerate(self.cells):
            heat[:, row, col] = 5.0 - rank
        return heat, torch.ones(len(grids), 4, GRID, GRID), torch.zeros(len(grids), 2, GRID, GRID)


def cell_box(row: int, col: int) -> tuple[float, float, float, float]:
    """The box the stand-in head predicts at a cell, in canvas (= image) pixels."""
    cx, cy = (col + 0.5) * PATCH, (row + 0.5) * PATCH
    return cx - PATCH, cy - PATCH, cx + PATCH, cy + PATCH


def record(name: str, boxes=()) -> ImageRecord:
    return ImageRecord(name, GRID * PATCH, GRID * PATCH, tuple(boxes))


def test_peaks_on_no_logo_become_negatives_strongest_first_and_capped():
    logo = Box(*cell_box(1, 1), "Acme")
    head = PeaksAt([(1, 1), (5, 5), (1, 5), (6, 1)])  # the first peak is the logo itself
    found = hard_negative_boxes(head, [record("a.jpg", [logo]), record("b.jpg")], torch.zeros(2, 3, GRID, GRID), GRID * PATCH, per_image=2)
    np.testing.assert_allclose(found[0], [cell_box(5, 5), cell_box(1, 5)])  # not the logo's peak; best two of the rest
    np.testing.assert_allclose(found[1], [cell_box(1, 1), cell_box(5, 5)])  # a no-logo image: any peak is a negative


def test_a_peak_overlapping_a_logo_is_not_a_negative():
    near = cell_box(2, 2)
    logo = Box(near[0] + 4, near[1] + 4, near[2] + 4, near[3] + 4, "Acme")  # IoU with the peak's box ~0.6
    found = hard_negative_boxes(PeaksAt([(2, 2)]), [record("a.jpg", [logo])], torch.zeros(1, 3, GRID, GRID), GRID * PATCH)
    assert found[0].shape == (0, 4)


def test_with_background_adds_a_last_class_and_keeps_the_logos():
    logo_image, empty = record("a.jpg", [Box(0, 0, 10, 10, "Acme")]), record("b.jpg")
    dataset = LogoDataset([logo_image, empty], ("Acme", "Zeta"), name="train")
    augmented = with_background(dataset, {logo_image: np.array([[20.0, 20, 40, 40]]), empty: np.zeros((0, 4))})
    assert augmented.brands == ("Acme", "Zeta", BACKGROUND)
    assert [b.brand for b in augmented[0].boxes] == ["Acme", BACKGROUND] and augmented[0].boxes[1].xyxy == (20, 20, 40, 40)
    assert augmented[1].boxes == ()
    with pytest.raises(ValueError, match="reserves"):
        with_background(augmented, {})
