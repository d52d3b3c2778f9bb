"""Model folders: weights plus a manifest saying how to rebuild and feed the model.

A model folder holds ``logolens.json`` (architecture name and config, brand list, preprocessing,
training facts) and the weights it names, ``weights-<sha256 prefix>.pt`` (a torch state dict of
what training changed). The weights file is named by its content and written first, the manifest
is then replaced atomically, and only then are weights files no manifest names removed. So an
interrupted save leaves the old model loadable (or the new one), never a mix, and never nothing.
Other files (history, plots, a brand gallery) live beside them and are left alone. Saving the
same model twice gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from logolens import __version__
from logolens.errors import ModelError
from logolens.models.registry import get_entry, rebuild_model
from logolens.utils import atomic_write, atomic_write_json

FORMAT_VERSION = 1
MANIFEST = "logolens.json"
WEIGHTS_PATTERN = "weights-*.pt"


def _state_to_save(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trained state: all of it, or only the trained part for models that rebuild the rest
    from packaged pretrained weights (``saved_state_dict``)."""
    state = model.saved_state_dict() if hasattr(model, "saved_state_dict") else model.state_dict()
    return {key: value.detach().cpu().contiguous() for key, value in state.items()}


def save_model(
    directory: str | Path, model: nn.Module, model_name: str, manifest: dict[str, Any], keep_if_same_weights: tuple[str, ...] = ()
) -> Path:
    """Write ``model``'s weights and a manifest (``manifest`` plus format and architecture fields).

    ``keep_if_same_weights`` names entries of the folder's previous manifest (such as ``onnx``, an
    export made from the weights) to carry over when the weights come out byte-identical.
    """
    directory = Path(directory)
    buffer = io.BytesIO()  # saving via a buffer keeps the archive's inner name fixed ("archive")
    torch.save(_state_to_save(model), buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    weights = directory / f"weights-{digest[:12]}.pt"
    if not (weights.is_file() and weights.read_bytes() == data):
        atomic_write(weights, lambda tmp: tmp.write_bytes(data))
    if keep_if_same_weights and _named_weights(directory) == weights.name:
        previous = read_manifest(directory)
        manifest = {**{k: previous[k] for k in keep_if_same_weights if k in previous}, **manifest}
    config = getattr(model, "config", None)
    payload = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "logolens_version": __version__,
        "model": model_name,
        "model_config": asdict(config) if is_dataclass(config) else {},
        "weights": {"file": weights.name, "sha256": digest},
    }
    try:
        atomic_write_json(directory / MANIFEST, payload)
    except BaseException:
        if weights.name != _named_weights(directory):
            weights.unlink(missing_ok=True)  # the old manifest and its weights stay as they were
        raise
    for stale in directory.glob(WEIGHTS_PATTERN):
        if stale.name != weights.name:
            stale.unlink(missing_ok=True)
    return directory


def update_manifest(directory: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into the manifest of an existing model folder (atomically)."""
    manifest = {**read_manifest(directory), **updates}
    atomic_write_json(Path(directory) / MANIFEST, manifest)
    return manifest


def _named_weights(directory: Path) -> str | None:
    try:
        return weights_path(directory).name
    except ModelError:
        return None


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
    if not isinstance(manifest, dict):
        raise ModelError(f"{manifest_path}: the manifest must be a JSON object, got {type(manifest).__name__}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{manifest_path}: model format version {version!r} is not supported by this logolens "
            f"(reads up to {FORMAT_VERSION}); upgrade logolens"
        )
    return manifest


def weights_path(directory: str | Path, manifest: dict[str, Any] | None = None) -> Path:
    """The weights file the manifest of ``directory`` names."""
    directory = Path(directory)
    manifest = manifest if manifest is not None else read_manifest(directory)
    name = (manifest.get("weights") or {}).get("file") if isinstance(manifest.get("weights"), dict) else None
    if not isinstance(name, str) or "/" in name or not name:
        raise ModelError(f"{directory / MANIFEST}: names no weights file")
    return directory / name


def load_model(directory: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a folder from its manifest and weights; returns ``(model, manifest)``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        get_entry(manifest["model"])
        model = rebuild_model(manifest["model"], manifest.get("model_config", {}))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{directory / MANIFEST}: cannot rebuild the model ({error})") from None
    weights = weights_path(directory, manifest)
    if not weights.is_file():
        raise ModelError(f"{weights}: the weights file is missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError(f"expected a state dict, found {type(state).__name__}")
        (model.load_saved_state_dict if hasattr(model, "load_saved_state_dict") else model.load_state_dict)(state)
    except ModelError as error:
        raise ModelError(f"{weights}: {error}") from None
    except (RuntimeError, OSError, ValueError, TypeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelError(f"{weights}: weights do not load ({first})") from None
    model.eval()
    return model, manifest
