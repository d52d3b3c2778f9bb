"""The CNN of the blog post the project started from, layer for layer.

The post's Keras model (R interface) was::

    Conv2D(16, 3x3) - ReLU - MaxPool(2)
    Conv2D(32, 3x3) - ReLU - MaxPool(2)
    Conv2D(64, 3x3) - ReLU - MaxPool(2)
    Flatten - Dense(64) - ReLU - Dropout(0.5) - Dense(n_brands) - softmax

with Keras defaults: 'valid' convolutions, floor pooling, Glorot-uniform kernels and zero biases.
This module returns logits; the softmax lives in the loss (cross-entropy on logits is the same
categorical cross-entropy, computed stably) and in prediction. Parameter count equals the Keras
model's for the same input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SeedCNNConfig:
    n_classes: int = 27  # one output per brand
    image_size: int = 32  # square input side, pixels; >= 22 so three conv+pool stages fit
    channels: tuple[int, int, int] = (16, 32, 64)  # filters of the three conv layers
    hidden: int = 64  # units of the dense layer
    dropout: float = 0.5  # dropout before the output layer

    def __post_init__(self) -> None:
        if self.image_size < 22:
            raise ValueError(f"image_size must be >= 22 for three 3x3 conv + 2x2 pool stages, got {self.image_size}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        object.__setattr__(self, "channels", tuple(self.channels))

    @property
    def feature_side(self) -> int:
        """Spatial side after the three stages: each conv drops 2 pixels, each pool halves (floor)."""
        side = self.image_size
        for _ in self.channels:
            side = (side - 2) // 2
        return side


class ConvStage(nn.Module):
    """Conv2D(3x3, valid) - ReLU - MaxPool(2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(x)))


class SeedCNN(nn.Module):
    def __init__(self, config: SeedCNNConfig):
        super().__init__()
        self.config = config
        widths = (3, *config.channels)
        self.stages = nn.Sequential(*(ConvStage(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.dense = nn.Linear(config.channels[-1] * config.feature_side**2, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden, config.n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)  # (B, 64, s, s)
        # Keras flattens channels-last (H, W, C); keep that order so weights map one to one.
        x = x.permute(0, 2, 3, 1).flatten(1)  # (B, s*s*64)
        return torch.relu(self.dense(x))  # (B, hidden)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))  # (B, n_classes) logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
