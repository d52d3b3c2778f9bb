"""Models by name: ``create_model("seed-cnn", n_classes=27)``.

Each entry couples a builder with its config class and the preprocessing its inputs need, so a
saved model directory can name its architecture and be rebuilt by logolens alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from logolens.models.preprocessing import Preprocessing
from logolens.models.seed_cnn import SeedCNN, SeedCNNConfig
from logolens.utils import unknown_choice_message


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config_class: type
    build: Callable[[Any], nn.Module]
    default_preprocessing: Callable[[int], Preprocessing]  # image_size -> preprocessing
    description: str


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
    allowed = [f.name for f in fields(entry.config_class)]
    for key in overrides:
        if key not in allowed:
            raise ValueError(unknown_choice_message(f"option for model {name!r}:", key, allowed))
    return entry.config_class(**overrides)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with config ``overrides`` (e.g. ``n_classes``, ``image_size``)."""
    return get_entry(name).build(make_config(name, **overrides))


register_model(
    ModelEntry(
        name="seed-cnn",
        config_class=SeedCNNConfig,
        build=SeedCNN,
        default_preprocessing=lambda size: Preprocessing(image_size=size),
        description="the blog post's 3-layer Keras CNN, trained from scratch (rescale 1/255, squashed crops)",
    )
)
