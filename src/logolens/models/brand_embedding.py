"""The brand embedding: what the brand gallery compares logos by.

DINOv2's final CLS token is semantic ("a bottle", "a shirt"); matching one logo against a few
examples of another also needs the *instance*: the exact shapes and letters of a mark. The
embedding is ``[CLS, mean patch token]`` after block 10 and after block 12 of a tight crop (no
context), the intermediate tokens layer-normalised without learned scale (they have no trained
norm of their own). On FlickrLogos-27 (nearest neighbour over brands never trained on, after the
whitening) the two blocks together beat either alone (5-shot 0.83 against 0.77 and 0.79, 1-shot
0.54 against 0.46 and 0.45), and a tight crop beat 10 % context. It is exactly the embedding the
DINOv2 classifier of new models puts its head on. A whitening learned on the trained brands
(:mod:`logolens.gallery.projection`) then turns it into the space the gallery searches.

:func:`embedder_id` names everything a stored gallery vector depends on (weights, blocks, crop,
size), so a gallery made with any other embedding is refused rather than silently mismatched.
"""

from __future__ import annotations

import torch
from torch import nn

from logolens.models.backbones import DINOV2_BLOCKS, DinoV2Embedder, backbone_id, dinov2_feature_id
from logolens.models.registry import get_entry

BLOCKS = DINOV2_BLOCKS  # DINOv2-S/14 blocks (of 12) whose tokens are embedded: 10 and 12, as the classifier
IMAGE_SIZE = 224
PREPROCESSING = get_entry("dinov2-s14").preprocessing(IMAGE_SIZE)  # the classifier's crop: tight, padded to square


def embedder_id() -> str:
    """``dinov2-s14@<weights sha>/blocks10+12/tight-square-224``: the identity stored with gallery vectors."""
    return f"{backbone_id('dinov2-s14')}/blocks{'+'.join(map(str, BLOCKS))}/tight-square-{IMAGE_SIZE}"


def cache_id() -> str:
    """The name brand embeddings are cached under: the DINOv2 classifier's own (same weights, blocks
    and crop), so training a default classifier embeds each crop's plain view once for both."""
    return backbone_id("dinov2-s14") + dinov2_feature_id(BLOCKS)


class BrandEmbedder(nn.Module):
    """Images ``(B, 3, 224, 224)`` (see :data:`PREPROCESSING`) to brand embeddings ``(B, 1536)``:
    the DINOv2 classifier's embedding of new models (same blocks, same tight crop, same size)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.embedder = DinoV2Embedder(IMAGE_SIZE, pretrained, blocks=BLOCKS)
        self.embedding_dim = self.embedder.embedding_dim
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedder(x)  # (B, 2C)
