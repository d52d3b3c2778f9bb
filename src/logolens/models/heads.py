"""Classification heads that sit on a backbone's embedding.

A linear head on frozen embeddings (a linear probe) is the standard, strong baseline for
self-supervised backbones such as DINOv2; a small MLP can help when brands are not linearly
separable in the embedding. Both take ``(B, D)`` embeddings and return ``(B, n_classes)`` logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from logolens.utils import unknown_choice_message

HEADS = ("linear", "mlp")


@dataclass(frozen=True)
class HeadConfig:
    kind: str = "linear"  # "linear" or "mlp"
    embedding_dim: int = 384  # input width, set by the backbone
    n_classes: int = 27
    hidden: int = 512  # mlp only
    dropout: float = 0.1  # mlp only, before the output layer

    def __post_init__(self) -> None:
        if self.kind not in HEADS:
            raise ValueError(unknown_choice_message("head", self.kind, HEADS))


class Head(nn.Module):
    """``Linear`` or ``Linear-GELU-Dropout-Linear`` on standardised embeddings.

    Backbone embeddings have a few dimensions with large magnitude that dominate a linear probe;
    standardising each dimension with the training embeddings' mean and standard deviation
    (:meth:`standardise_with`) evens them out. The statistics are buffers, so they are saved,
    reloaded and exported with the head. Until set, they are the identity.
    """

    def __init__(self, config: HeadConfig):
        super().__init__()
        self.config = config
        self.register_buffer("shift", torch.zeros(config.embedding_dim))
        self.register_buffer("scale", torch.ones(config.embedding_dim))
        if config.kind == "linear":
            self.layers = nn.Sequential(nn.Dropout(0.0), nn.Linear(config.embedding_dim, config.n_classes))
        else:
            self.layers = nn.Sequential(
                nn.Linear(config.embedding_dim, config.hidden),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, config.n_classes),
            )

    @torch.no_grad()
    def standardise_with(self, embeddings: torch.Tensor) -> Head:
        """Set the per-dimension statistics from training embeddings ``(N, D)``."""
        self.shift.copy_(embeddings.mean(dim=0))
        self.scale.copy_(embeddings.std(dim=0).clamp_min(1e-6) if len(embeddings) > 1 else torch.ones_like(self.scale))
        return self

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers((embeddings - self.shift) / self.scale)  # (B, D) -> (B, n_classes)
