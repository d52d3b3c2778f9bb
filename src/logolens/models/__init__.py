"""Network architectures by name and the preprocessing each expects."""

from logolens.models.preprocessing import Preprocessing
from logolens.models.registry import create_model, get_entry, list_models, make_config

__all__ = ["Preprocessing", "create_model", "get_entry", "list_models", "make_config"]
