"""Model folders: weights plus a manifest saying how to rebuild and feed the model.

A model folder holds ``weights.pt`` (a torch ``state_dict``) and ``logolens.json`` (architecture
name and config, brand list, preprocessing, training facts). Every file is written atomically
(temporary file + rename) and the manifest last, so an interrupted save leaves either the old
model or the new one, never a mix that loads. Other files (history, plots, a brand gallery) may
live beside them and are left alone. Saving the same model twice gives byte-identical files.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from logolens.errors import ModelError
from logolens.models.registry import create_model, get_entry
from logolens.utils import atomic_write, atomic_write_json

FORMAT_VERSION = 1
MANIFEST = "logolens.json"
WEIGHTS = "weights.pt"


def save_model(directory: str | Path, model: nn.Module, model_name: str, manifest: dict[str, Any]) -> Path:
    """Write ``model``'s weights and a manifest (``manifest`` plus format and architecture fields)."""
    directory = Path(directory)
    config = getattr(model, "config", None)
    buffer = io.BytesIO()  # saving via a buffer keeps the archive's inner name fixed ("archive")
    torch.save({key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}, buffer)
    atomic_write(directory / WEIGHTS, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    from logolens import __version__

    payload = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "logolens_version": __version__,
        "model": model_name,
        "model_config": asdict(config) if is_dataclass(config) else {},
    }
    atomic_write_json(directory / MANIFEST, payload)
    return directory


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for presence and a supported format version."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelError(f"{directory}: no such model folder")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ModelError(f"{directory}: not a logolens model folder (no {MANIFEST}); train one with 'logolens train'")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{manifest_path}: unreadable manifest ({error})") from None
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{manifest_path}: model format version {version!r} is not supported by this logolens "
            f"(reads up to {FORMAT_VERSION}); upgrade logolens"
        )
    return manifest


def load_model(directory: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a folder from its manifest and weights; returns ``(model, manifest)``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        get_entry(manifest["model"])
        model = create_model(manifest["model"], **manifest.get("model_config", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{directory / MANIFEST}: cannot rebuild the model ({error})") from None
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{directory}: {WEIGHTS} is missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, EOFError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{weights}: weights do not load ({first})") from None
    model.eval()
    return model, manifest
