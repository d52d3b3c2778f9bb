"""The brand embedding: what the brand gallery compares logos by.

DINOv2's final CLS token is semantic ("a bottle", "a shirt"); matching one logo against a few
examples of another needs something closer to the *instance*: the exact shapes and letters of a
mark. On FlickrLogos-27 (k-nearest-neighbour over brands never trained on) the tokens after block
10 of 12 beat the final ones by a wide margin, and so does a tight crop (no context) over the
classifier's 10 % margin. The embedding is ``[CLS, mean patch token]`` of that block, each
token layer-normalised without learned scale (the intermediate tokens have no trained norm of
their own). A whitening learned on the trained brands (:mod:`logolens.gallery.projection`) then
turns it into the space the gallery searches.

:data:`EMBEDDER_ID` names everything a stored gallery vector depends on (weights, block, crop,
size), so a gallery made with any other embedding is refused rather than silently mismatched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from logolens.models.backbones import IMAGENET_MEAN, IMAGENET_STD, backbone_id
from logolens.models.preprocessing import Preprocessing

BLOCKS = 10  # transformer blocks of DINOv2-S/14 used (of 12)
IMAGE_SIZE = 224
PREPROCESSING = Preprocessing(image_size=IMAGE_SIZE, margin=0.0, square=True, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def embedder_id() -> str:
    """``dinov2-s14@<weights sha>/blocks10/tight-square-224``: the identity stored with gallery vectors."""
    return f"{backbone_id('dinov2-s14')}/blocks{BLOCKS}/tight-square-{IMAGE_SIZE}"


class BrandEmbedder(nn.Module):
    """Images ``(B, 3, 224, 224)`` (see :data:`PREPROCESSING`) to brand embeddings ``(B, 768)``."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from logolens.models.dinov2 import build_dinov2_s14

        vit = build_dinov2_s14(image_size=IMAGE_SIZE, pretrained=pretrained)
        self.patch_embed, self.cls_token = vit.patch_embed, vit.cls_token
        self.blocks = nn.ModuleList(list(vit.blocks)[:BLOCKS])
        self.register_buffer("positions", vit.position_embedding(IMAGE_SIZE // 14, IMAGE_SIZE // 14).detach().clone(), persistent=False)
        self.embedding_dim = 2 * vit.config.dim
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, h*w, C)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.positions  # (B, 1 + h*w, C)
        for block in self.blocks:
            x = block(x)
        x = F.layer_norm(x, x.shape[-1:])  # (B, 1 + h*w, C)
        return torch.cat([x[:, 0], x[:, 1:].mean(dim=1)], dim=1)  # (B, 2C)
