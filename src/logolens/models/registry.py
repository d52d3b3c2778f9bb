"""Models by name: ``create_model("seed-cnn", n_classes=27)``, ``create_model("dinov2-s14", ...)``.

Each entry couples a config class with a builder, the preprocessing its inputs need and the
training recipe that suits it, so a saved model folder can name its architecture and be rebuilt
by logolens alone, and ``logolens train --model NAME`` does the right thing without ten flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from torch import nn

from logolens.models.backbones import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, BackboneClassifier, BackboneClassifierConfig
from logolens.models.detector import STORED_BLOCKS_DEFAULT, DetectorConfig, LogoDetectorNet
from logolens.models.preprocessing import Preprocessing
from logolens.models.seed_cnn import SeedCNN, SeedCNNConfig
from logolens.utils import unknown_choice_message


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config_class: type
    build: Callable[[Any], nn.Module]
    preprocessing: Callable[[int], Preprocessing]  # image_size -> preprocessing
    default_image_size: int  # pixels
    recipe: dict[str, Any]  # training defaults (LogoClassifier settings) for this model
    description: str
    fixed: dict[str, Any] = field(default_factory=dict)  # config values the name implies
    pretrained: bool = False  # True: a frozen pretrained backbone (embeddings can be cached)
    task: str = "classify"  # "classify": crops to brands; "detect": whole images to boxes
    stored_defaults: dict[str, Any] = field(default_factory=dict)  # config values a saved config lacking the key used


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        raise ValueError(unknown_choice_message("model", name, list_models()))
    return _REGISTRY[name]


def make_config(name: str, **overrides: Any) -> Any:
    """The config dataclass of model ``name`` with ``overrides``; unknown keys are refused."""
    entry = get_entry(name)
    allowed = [f.name for f in fields(entry.config_class) if f.name not in entry.fixed]
    for key in overrides:
        if key not in allowed and overrides[key] != entry.fixed.get(key, object()):
            raise ValueError(unknown_choice_message(f"option for model {name!r}:", key, allowed))
    return entry.config_class(**{**overrides, **entry.fixed})


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with config ``overrides`` (e.g. ``n_classes``, ``image_size``)."""
    return get_entry(name).build(make_config(name, **overrides))


def rebuild_model(name: str, stored_config: dict[str, Any]) -> nn.Module:
    """Build model ``name`` from a saved config: a key the config lacks (it was written before the
    option existed) takes the value models had then, not today's default."""
    return create_model(name, **{**get_entry(name).stored_defaults, **stored_config})


register_model(
    ModelEntry(
        name="seed-cnn",
        config_class=SeedCNNConfig,
        build=SeedCNN,
        preprocessing=lambda size: Preprocessing(image_size=size),
        default_image_size=32,
        recipe={"epochs": 150, "lr": 1e-4, "decay": 1e-6, "batch_size": 32, "optimizer": "rmsprop"},
        description="the blog post's 3-layer Keras CNN, trained from scratch (rescale 1/255, squashed crops)",
    )
)

for _spec in BACKBONES.values():
    register_model(
        ModelEntry(
            name=_spec.name,
            config_class=BackboneClassifierConfig,
            build=BackboneClassifier,
            preprocessing=lambda size, s=_spec: Preprocessing(image_size=size, margin=s.margin, square=True, mean=s.mean, std=s.std),
            default_image_size=_spec.default_image_size,
            recipe={"epochs": 200, "lr": _spec.head_lr, "decay": 0.0, "batch_size": 64, "optimizer": "adamw", "schedule": "cosine",
                    "weight_decay": 1e-4, "label_smoothing": 0.1, "patience": 0},
            description=_spec.description,
            fixed={"backbone": _spec.name},
            pretrained=True,
            stored_defaults={"feature_blocks": _spec.stored_blocks_default} if _spec.feature_blocks else {},
        )
    )

register_model(
    ModelEntry(
        name="dinov2-s14-detector",
        config_class=DetectorConfig,
        build=LogoDetectorNet,
        preprocessing=lambda size: Preprocessing(image_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        default_image_size=448,
        recipe={"epochs": 60, "lr": 1e-3, "batch_size": 16, "optimizer": "adamw", "schedule": "cosine",
                "weight_decay": 1e-4, "patience": 12},
        description="logo detector: a dense head (objectness, box, brand) on the frozen DINOv2 ViT-S/14 patch grid",
        fixed={"backbone": "dinov2-s14"},
        pretrained=True,
        task="detect",
        stored_defaults={"feature_blocks": STORED_BLOCKS_DEFAULT},
    )
)
