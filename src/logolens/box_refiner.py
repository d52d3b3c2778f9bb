"""Second look at each candidate: re-detect the logo in a zoomed-in crop around it.

The whole-photo grid is coarse (one patch per ~16 original pixels at 448 px), so its boxes for
small and medium logos are often off by a patch on a side, which is fatal at IoU 0.5. The refiner
cuts a square around each candidate with as much context again as the box itself
(:data:`CONTEXT`), letterboxes it to 224 px (a 16 x 16 patch grid over a region of about twice the
logo's size: eight patches across the logo) and runs the same kind of dense head there. Its
strongest peak near the crop centre gives the refined box, objectness and brand.

It trains on crops around the training boxes, jittered in position and context the way real
candidates are off, with targets from every box that falls in the crop. Candidates are often
half or twice the logo's size, so the training context spans that whole range (a crop 1.2 to 5
times the logo's side, log-uniform): trained on the nominal 1.5-2.7 only, the refiner kept only
13 % of twice-too-large starts at IoU 0.5 on held-out FlickrLogos-27 images, against 59 % now.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from logolens.data.crops import CropSample
from logolens.data.dataset import ImageRecord
from logolens.inference.embeddings import EmbeddingCache, embed_samples
from logolens.inference.letterbox import region_placement
from logolens.models.detector import decode_peaks
from logolens.training.detection_targets import DenseTargets, dense_targets

SIZE = 224  # refinement canvas, pixels (a 16 x 16 patch grid)
CONTEXT = 2.0  # crop side as a multiple of the candidate's longest side
MIN_SIDE = 24.0  # pixels: the smallest crop cut around a candidate
TRAIN_VIEWS = 4  # jittered crops per training box (LogoDetector's refine_views)
JITTER_SHIFT = 0.3  # centre shift, fraction of the box size, either way
JITTER_CONTEXT = (1.2, 5.0)  # context range of training crops (crop side / box side), sampled log-uniform


def candidate_region(xyxy: Sequence[float], context: float = CONTEXT) -> tuple[float, float, float, float]:
    """The square crop (xyxy, may extend past the image) cut around a candidate box."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(context * max(x2 - x1, y2 - y1), MIN_SIDE)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def training_regions(record: ImageRecord, rng: np.random.Generator, views: int = TRAIN_VIEWS) -> list[tuple[float, float, float, float]]:
    """``views`` jittered crops around every box of ``record``."""
    regions = []
    for box in record.boxes:
        for _ in range(views):
            shift = rng.uniform(-JITTER_SHIFT, JITTER_SHIFT, 2) * (box.width, box.height)
            jittered = (box.x1 + shift[0], box.y1 + shift[1], box.x2 + shift[0], box.y2 + shift[1])
            regions.append(candidate_region(jittered, float(np.exp(rng.uniform(*np.log(JITTER_CONTEXT))))))
    return [tuple(round(v, 2) for v in region) for region in regions]


def region_targets(record: ImageRecord, region: Sequence[float], brand_index: dict[str, int], grid: int) -> DenseTargets:
    """Targets on a region's canvas: every box of the record whose centre lies in the region."""
    placement = region_placement(region, SIZE)
    boxes = placement.to_canvas(record.box_xyxy)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = (centres >= 0).all(axis=1) & (centres < SIZE).all(axis=1)
    labels = np.array([brand_index.get(b.brand, -1) for b in record.boxes])
    keep = inside & (labels >= 0)
    return dense_targets(boxes[keep].clip(0, SIZE), labels[keep], grid)


def region_grids(network, samples: Sequence[CropSample], preprocessing, cache: EmbeddingCache | None, progress: bool) -> torch.Tensor:
    """Patch grids (N, C, 16, 16) float16 of square regions (``sample.box``) of their images."""
    flat = embed_samples(
        lambda x: network.forward_features(x).flatten(1), samples, preprocessing, cache, view=f"region-{SIZE}",
        batch_size=16, progress=progress,
    )
    grid = SIZE // 14
    return torch.from_numpy(flat).reshape(len(samples), -1, grid, grid).to(torch.float16, memory_format=torch.channels_last)  # as training reads them (detection_loop.channels_last)


def refine_boxes(
    forward, preprocessing, image, boxes: np.ndarray, passes: int = 1, keep_centre: float = 0.6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refined ``(boxes (M, 4) image px, objectness (M,), brand probabilities (M, K))`` of
    candidate ``boxes``; ``forward`` maps canvases to ``(heat, ltrb, logits)``.

    Each pass cuts the crops around the boxes of the pass before, so a candidate far off in size
    or place is seen again better framed. A crop whose strongest peak is off-centre (outside the
    middle ``keep_centre`` of the canvas) keeps the box it had; one that never found a peak gets
    objectness 0 and NaN probabilities."""
    refined, heat = boxes.astype(np.float32).copy(), np.zeros(len(boxes), np.float32)
    probs = None
    for _ in range(passes):
        regions = [candidate_region(b) for b in refined]
        x = torch.stack([preprocessing(image, region) for region in regions])  # cut and resized as in training
        peaks = decode_peaks(*forward(x), max_peaks=5)
        if probs is None:
            probs = np.full((len(boxes), peaks[0][2].shape[1]), np.nan, np.float32)
        low, high = SIZE * (1 - keep_centre) / 2, SIZE * (1 + keep_centre) / 2
        for i, (canvas_boxes, canvas_heat, canvas_probs) in enumerate(peaks):
            centres = (canvas_boxes[:, :2] + canvas_boxes[:, 2:]) / 2
            central = np.where(((centres >= low) & (centres <= high)).all(axis=1))[0]
            if len(central):
                j = central[0]  # peaks come strongest first
                refined[i] = region_placement(regions[i], SIZE).to_image(canvas_boxes[j : j + 1])[0]
                heat[i], probs[i] = canvas_heat[j], canvas_probs[j]
    return refined, heat, probs
