"""A dense logo detector on the DINOv2 patch grid: objectness, box and brand for every patch.

No detector weights ship offline, but DINOv2's patch tokens already say *what* is where: a small
convolutional head on the frozen token grid (the patch tokens of blocks 10 and 12 side by side:
the earlier block keeps more of where edges are, the last one more of what they belong to) learns
where logos are (a CenterNet-style heatmap
peaking at each logo's centre), how far each box reaches (left, top, right, bottom distances from
the patch centre, FCOS style) and which brand it is. The backbone stays frozen, so its grids are
computed once per training image and cached; training the head takes minutes on a CPU.

Coordinates: an image is letterboxed into a square canvas of ``image_size`` pixels (scaled to fit,
placed at the top-left corner, the rest filled with the ImageNet mean), so canvas pixels are
original pixels times one scale factor. Patch ``(i, j)`` covers canvas pixels
``[14 j, 14 j + 14) x [14 i, 14 i + 14)``; its centre is ``(14 (j + .5), 14 (i + .5))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from logolens.errors import ModelError
from logolens.models.backbones import DINOV2_BLOCKS
from logolens.models.dinov2 import DinoV2Config, check_blocks

PATCH = 14  # pixels per DINOv2 patch: the stride of the detector's grid
STORED_BLOCKS_DEFAULT = (12,)  # the blocks of detectors saved before feature_blocks existed (final block only)


@dataclass(frozen=True)
class DetectorConfig:
    backbone: str = "dinov2-s14"  # the frozen backbone whose patch grid the head reads
    n_classes: int = 27  # trained brands
    image_size: int = 448  # square canvas side in pixels, a multiple of 14 (448: a 32 x 32 grid)
    width: int = 128  # channels of the head
    depth: int = 2  # depthwise-separable 3x3 conv blocks shared by the three outputs
    feature_blocks: tuple[int, ...] = DINOV2_BLOCKS  # DINOv2 blocks whose patch tokens the head reads, stacked
    pretrained: bool = True  # False only for tests of shapes and plumbing
    heads: int = 1  # dense heads trained apart and averaged (:class:`HeadEnsemble`); 1: a single DenseLogoHead
    feature_dims: int = 0  # principal components of the patch features the heads read (:class:`PrincipalProjection`); 0: all

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_blocks", check_blocks(tuple(self.feature_blocks), DinoV2Config.depth))  # a saved config has a list
        if self.backbone != "dinov2-s14":
            raise ValueError(f"the detector reads the patch grid of 'dinov2-s14', got backbone {self.backbone!r}")
        if self.image_size < 2 * PATCH or self.image_size % PATCH:
            raise ValueError(f"detector image_size must be a multiple of {PATCH} and >= {2 * PATCH}, got {self.image_size}")
        if self.n_classes < 1 or self.width < 1 or self.depth < 0:
            raise ValueError("n_classes and width must be >= 1 and depth >= 0")
        if self.heads < 1:
            raise ValueError(f"a detector needs at least one head, got heads={self.heads}")
        if self.feature_dims < 0:
            raise ValueError(f"feature_dims must be >= 0 (0: all features), got {self.feature_dims}")

    @property
    def grid(self) -> int:
        return self.image_size // PATCH


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (neighbouring patches) then pointwise mixing, with a residual: a tenth of a
    full 3x3 convolution's cost, which keeps head training to seconds per epoch on a CPU."""

    def __init__(self, width: int):
        super().__init__()
        self.spatial = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.mix = nn.Conv2d(width, width, 1)
        self.norm = nn.GroupNorm(8, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.norm(self.mix(self.spatial(x))))  # (B, W, h, w)


class DenseLogoHead(nn.Module):
    """Patch features ``(B, C, h, w)`` to ``heat`` logits (B, h, w), ``ltrb`` distances (B, 4, h, w)
    in patches (positive), and brand ``logits`` (B, K, h, w)."""

    def __init__(self, in_dim: int, config: DetectorConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_dim, config.width, 1), nn.GroupNorm(8, config.width), nn.GELU()]
        layers += [SeparableBlock(config.width) for _ in range(config.depth)]
        self.trunk = nn.Sequential(*layers)
        self.heat = nn.Conv2d(config.width, 1, 3, padding=1)
        self.box = nn.Conv2d(config.width, 4, 3, padding=1)
        self.brand = nn.Conv2d(config.width, config.n_classes, 1)
        nn.init.constant_(self.heat.bias, -4.0)  # start with ~2 % objectness everywhere: stable focal loss
        nn.init.zeros_(self.box.weight)
        nn.init.zeros_(self.box.bias)  # exp(0) = one patch each way: a sane first box

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.trunk(grid)  # (B, W, h, w)
        heat = self.heat(x)[:, 0]  # (B, h, w)
        ltrb = torch.exp(self.box(x).clamp(-6.0, 6.0))  # (B, 4, h, w), patches
        return heat, ltrb, self.brand(x)  # logits (B, K, h, w)


class HeadEnsemble(nn.Module):
    """Several :class:`DenseLogoHead` s, each trained on its own (own initialisation, batch order
    and dropout masks), whose outputs are averaged: objectness and brand as probabilities, box
    distances geometrically (in log space, as they are learnt). Same inputs and outputs as one head.

    Why: a head learnt from a few hundred cached photos depends a lot on its draw. On
    FlickrLogos-27 (seed-0 split, heads alone, no refiner or re-scoring) single heads trained with
    different seeds or schedules scored mAP@0.5 0.29-0.39, and the average of three of them 0.43,
    above the best one; with the refiner and re-scoring, three heads gave 0.629 against 0.565
    (``benchmarks/detect_heads_flickr27.py``). Each head costs about 0.5 % of a backbone pass at inference; training
    time grows with their number."""

    def __init__(self, in_dim: int, config: DetectorConfig):
        super().__init__()
        self.members = nn.ModuleList(DenseLogoHead(in_dim, config) for _ in range(config.heads))

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs = [member(grid) for member in self.members]
        heat = torch.stack([torch.sigmoid(o[0]) for o in outputs]).mean(0).clamp(1e-6, 1 - 1e-6)
        ltrb = torch.exp(torch.stack([torch.log(o[1]) for o in outputs]).mean(0))
        brand = torch.stack([torch.softmax(o[2], dim=1) for o in outputs]).mean(0)
        return torch.log(heat) - torch.log1p(-heat), ltrb, torch.log(brand.clamp_min(1e-12))


class PrincipalProjection(nn.Module):
    """Patch features ``(B, C, h, w)`` onto their first ``k`` principal components ``(B, k, h, w)``:
    centred, then rotated and truncated, not rescaled, so a head's first layer on the projection is
    that layer restricted to the directions the features vary most along.

    Why: the heads' first layer, a 1x1 convolution from the backbone's 768 channels, is most of
    every training step, and six heads (detector and box refiner) train for dozens of epochs each.
    The projection is fitted once on the training grids (:meth:`fit`) and applied to them once, so
    every epoch reads ``k`` channels instead of 768. It is a fixed part of the model (buffers, saved
    with the head's weights), not trained. On FlickrLogos-27, 128 components (95 % of the variance)
    halved each head's epoch but cost image accuracy and false alarms
    (``benchmarks/detect_feature_dims_flickr27.py``), so detectors read all 768 by default."""

    def __init__(self, in_dim: int, k: int):
        super().__init__()
        if not 0 < k <= in_dim:
            raise ValueError(f"feature_dims must be in [1, {in_dim}], got {k}")
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("components", torch.zeros(k, in_dim))

    @torch.no_grad()
    def fit(self, grids: torch.Tensor, max_positions: int = 100_000, seed: int = 0) -> PrincipalProjection:
        """Fit on grids ``(N, C, h, w)`` (any float dtype, any memory format): the covariance of at
        most ``max_positions`` patch vectors drawn with ``seed``, so the same grids always give the
        same projection (a resumed training run rebuilds it exactly)."""
        n, _, h, w = grids.shape
        flat_index = torch.randperm(n * h * w, generator=torch.Generator().manual_seed(seed))[:max_positions]
        image, row, column = flat_index // (h * w), flat_index % (h * w) // w, flat_index % w
        x = grids[image, :, row, column].float()  # (P, C), no copy of the whole grids
        mean = x.mean(0)
        x -= mean
        _, eigenvectors = torch.linalg.eigh((x.T @ x).double() / max(len(x) - 1, 1))  # eigenvalues ascending
        components = eigenvectors.flip(1)[:, : len(self.components)].T  # (k, C), largest variance first
        components = components * torch.where(components.sum(1, keepdim=True) < 0, -1.0, 1.0)  # a fixed sign per component
        self.mean.copy_(mean.float())
        self.components.copy_(components.float())
        return self

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        weight = self.components[:, :, None, None].to(grid.dtype)
        return F.conv2d(grid, weight, -(self.components @ self.mean).to(grid.dtype))  # (B, k, h, w)

    @torch.no_grad()
    def project(self, grids: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """:meth:`forward` over many grids in chunks, computed in float32 and kept in ``grids``' dtype."""
        return torch.cat([self(grids[i : i + chunk].float()).to(grids.dtype) for i in range(0, len(grids), chunk)])


class ProjectedHead(nn.Module):
    """A head (one :class:`DenseLogoHead` or a :class:`HeadEnsemble`) reading the patch features'
    :class:`PrincipalProjection`: the same inputs and outputs as the head alone."""

    def __init__(self, projection: PrincipalProjection, head: nn.Module):
        super().__init__()
        self.projection = projection
        self.head = head

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.head(self.projection(grid))


def head_members(head: nn.Module) -> list[DenseLogoHead]:
    """The heads trained one by one: an ensemble's members, or the head itself (seen through a
    :class:`ProjectedHead`: its members read the projection)."""
    head = head.head if isinstance(head, ProjectedHead) else head
    return list(head.members) if isinstance(head, HeadEnsemble) else [head]


class LogoDetectorNet(nn.Module):
    """Frozen DINOv2 ViT-S/14 plus a :class:`DenseLogoHead` (or a :class:`HeadEnsemble` of them): canvases ``(B, 3, S, S)`` to
    ``(heat, ltrb, logits)``. Only the head is trained and saved."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        from logolens.models.dinov2 import build_dinov2_s14

        self.config = config
        self.vit = build_dinov2_s14(image_size=config.image_size, pretrained=config.pretrained)
        in_dim = self.vit.config.dim * len(config.feature_blocks)
        head_dim = config.feature_dims or in_dim
        head = DenseLogoHead(head_dim, config) if config.heads == 1 else HeadEnsemble(head_dim, config)
        self.head = ProjectedHead(PrincipalProjection(in_dim, config.feature_dims), head) if config.feature_dims else head
        for parameter in self.vit.parameters():
            parameter.requires_grad = False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The patch-token grid ``(B, C, h, w)`` of canvases ``x``, C = 384 per feature block."""
        h, w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        patches = torch.cat([tokens[:, 1:] for tokens in self.vit.block_tokens(x, self.config.feature_blocks)], dim=2)
        return patches.transpose(1, 2).reshape(x.shape[0], -1, h, w)  # (B, C, h, w)

    def forward_head(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.head(grid)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.forward_head(self.forward_features(x))

    def train(self, mode: bool = True) -> LogoDetectorNet:
        super().train(mode)
        self.vit.eval()  # frozen: never in training mode
        return self

    def saved_state_dict(self) -> dict[str, torch.Tensor]:
        return {f"head.{k}": v for k, v in self.head.state_dict().items()}

    def load_saved_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = set(self.saved_state_dict())
        if set(state) != expected:
            missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ModelError(f"weights do not match the logo detector (missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.head.load_state_dict({k[len("head."):]: v for k, v in state.items()})


def patch_centres(h: int, w: int, stride: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """Canvas pixel coordinates ``(cx, cy)`` of every patch centre, each (h, w)."""
    return np.meshgrid((np.arange(w) + 0.5) * stride, (np.arange(h) + 0.5) * stride)


def decode_boxes(ltrb: torch.Tensor, stride: int = PATCH) -> torch.Tensor:
    """Predicted ``ltrb`` distances (B, 4, h, w), in patches, to canvas boxes (B, h, w, 4) xyxy."""
    _, _, h, w = ltrb.shape
    cx, cy = (torch.from_numpy(c).to(ltrb) for c in patch_centres(h, w, stride))
    d = ltrb.permute(0, 2, 3, 1) * stride  # (B, h, w, 4) pixels
    return torch.stack([cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]], dim=-1)


def box_distances(boxes: torch.Tensor, stride: int = PATCH) -> torch.Tensor:
    """The inverse of :func:`decode_boxes`: canvas boxes (B, h, w, 4) xyxy, one per patch, to the
    distances (B, h, w, 4), in patches, from each patch centre to their left, top, right and bottom
    sides (negative where the centre lies outside its box)."""
    h, w = boxes.shape[1:3]
    cx, cy = (torch.from_numpy(c).to(boxes) for c in patch_centres(h, w, stride))
    return torch.stack([cx - boxes[..., 0], cy - boxes[..., 1], boxes[..., 2] - cx, boxes[..., 3] - cy], dim=-1) / stride


@torch.no_grad()
def decode_peaks(
    heat_logits: torch.Tensor, ltrb: torch.Tensor, logits: torch.Tensor, max_peaks: int = 50, min_heat: float = 0.02
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per canvas: the local maxima of the heatmap (3x3) above ``min_heat``, best ``max_peaks``,
    as ``(boxes (N, 4) canvas px, heat (N,), brand probabilities (N, K))``."""
    heat = torch.sigmoid(heat_logits)  # (B, h, w)
    peaks = heat == F.max_pool2d(heat[:, None], 3, stride=1, padding=1)[:, 0]
    boxes = decode_boxes(ltrb)  # (B, h, w, 4)
    probs = torch.softmax(logits, dim=1).permute(0, 2, 3, 1)  # (B, h, w, K)
    results = []
    for b in range(heat.shape[0]):
        scores = torch.where(peaks[b] & (heat[b] >= min_heat), heat[b], torch.zeros_like(heat[b])).flatten()
        order = torch.argsort(scores, descending=True)[:max_peaks]
        order = order[scores[order] > 0]
        results.append((
            boxes[b].reshape(-1, 4)[order].numpy(), scores[order].numpy(), probs[b].reshape(-1, probs.shape[-1])[order].numpy()
        ))
    return results
