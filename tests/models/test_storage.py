"""Model folders: reproducible bytes, faithful reloads, clear errors, atomic saves."""

from __future__ import annotations

import json
import pathlib
from pathlib import Path

import pytest
import torch

from logolens.errors import ModelError
from logolens.models import create_model
from logolens.models import storage
from logolens.models.storage import FORMAT_VERSION, MANIFEST, load_model, read_manifest, save_model, weights_path

MANIFEST_EXTRA = {"brands": ["Alpha", "Beta", "Gamma"], "task": "classify", "note": {"nested": [1, 2.5, None]}}


def make_model(seed: int, n_classes: int = 3, image_size: int = 32) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("seed-cnn", n_classes=n_classes, image_size=image_size).eval()


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def outputs(model: torch.nn.Module) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.linspace(0, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32))


@pytest.fixture
def saved(tmp_path) -> tuple[Path, torch.nn.Module]:
    model = make_model(seed=1)
    return save_model(tmp_path / "model", model, "seed-cnn", MANIFEST_EXTRA), model


def test_save_writes_weights_and_manifest(saved):
    folder, model = saved
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, weights_path(folder).name]
    assert weights_path(folder).name.startswith("weights-")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == "seed-cnn"
    assert manifest["model_config"]["n_classes"] == 3 and manifest["model_config"]["image_size"] == 32
    assert manifest["brands"] == MANIFEST_EXTRA["brands"] and manifest["note"] == MANIFEST_EXTRA["note"]


def test_save_load_save_is_byte_identical(saved, tmp_path):
    folder, _ = saved
    model, manifest = load_model(folder)
    again = save_model(tmp_path / "again", model, manifest["model"], manifest)
    assert files(again) == files(folder)
    # and saving the same model object twice gives the same bytes too
    third = save_model(tmp_path / "third", model, manifest["model"], manifest)
    assert files(third) == files(folder)


def test_different_weights_give_different_bytes(saved, tmp_path):
    # Guards the byte-identity test against a save that ignored the weights.
    folder, _ = saved
    other = save_model(tmp_path / "other", make_model(seed=2), "seed-cnn", MANIFEST_EXTRA)
    assert weights_path(other).read_bytes() != weights_path(folder).read_bytes()


def test_loaded_model_gives_identical_outputs(saved):
    folder, model = saved
    loaded, manifest = load_model(folder)
    assert not loaded.training
    assert torch.equal(outputs(loaded), outputs(model))
    assert manifest["brands"] == MANIFEST_EXTRA["brands"]
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_loaded_model_keeps_a_non_default_config(tmp_path):
    model = make_model(seed=3, n_classes=5, image_size=40)
    loaded, _ = load_model(save_model(tmp_path / "m", model, "seed-cnn", {}))
    assert loaded.config == model.config
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_classifier_save_load_save_is_byte_identical(trained_model_dir, tmp_path):
    from logolens.classifier import LogoClassifier

    classifier = LogoClassifier.load(trained_model_dir)
    manifest = classifier.manifest_
    extra = {k: manifest[k] for k in ("data", "split")}
    again = classifier.save(tmp_path / "again", extra=extra)
    for name in (MANIFEST, weights_path(trained_model_dir).name):
        assert (again / name).read_bytes() == (trained_model_dir / name).read_bytes(), name


# ------------------------------------------------------------------ errors


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelError, match="no such model folder") as info:
        load_model(missing)
    assert str(missing) in str(info.value)


def test_folder_without_manifest(tmp_path):
    (tmp_path / "weights-000000000000.pt").write_bytes(b"")
    with pytest.raises(ModelError, match=f"not a logolens model folder.*{MANIFEST}") as info:
        load_model(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_future_format_version_is_refused(saved):
    folder, _ = saved
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=rf"format version {FORMAT_VERSION + 1} is not supported.*upgrade") as info:
        load_model(folder)
    assert str(folder / MANIFEST) in str(info.value)


@pytest.mark.parametrize("version", [None, "1", 1.0])
def test_missing_or_non_integer_format_version_is_refused(saved, version):
    folder, _ = saved
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = version
    if version is None:
        del manifest["format_version"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="format version"):
        read_manifest(folder)


def test_unreadable_manifest(saved):
    folder, _ = saved
    (folder / MANIFEST).write_text('{"format_version": 1,')
    with pytest.raises(ModelError, match="unreadable manifest") as info:
        load_model(folder)
    assert str(folder / MANIFEST) in str(info.value)


def test_manifest_that_is_not_an_object(saved):
    folder, _ = saved
    (folder / MANIFEST).write_text("[1, 2, 3]\n")
    with pytest.raises(ModelError, match=MANIFEST):
        load_model(folder)


def test_unknown_architecture_in_manifest(saved):
    folder, _ = saved
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["model"] = "seed-cnnn"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"cannot rebuild the model.*did you mean 'seed-cnn'"):
        load_model(folder)


def test_missing_weights(saved):
    folder, _ = saved
    weights_path(folder).unlink()
    with pytest.raises(ModelError, match="weights file is missing") as info:
        load_model(folder)
    assert str(folder) in str(info.value)


def test_truncated_weights(saved):
    folder, _ = saved
    weights = weights_path(folder)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError, match="weights do not load") as info:
        load_model(folder)
    assert str(weights) in str(info.value)


def test_empty_weights(saved):
    folder, _ = saved
    weights_path(folder).write_bytes(b"")
    with pytest.raises(ModelError, match="weights do not load") as info:
        load_model(folder)
    assert str(weights_path(folder)) in str(info.value)


def test_weights_of_another_architecture(saved):
    folder, _ = saved
    torch.save(make_model(seed=0, n_classes=4).state_dict(), weights_path(folder))
    with pytest.raises(ModelError, match="weights do not load") as info:
        load_model(folder)
    assert str(weights_path(folder)) in str(info.value)


def test_weights_file_that_is_a_git_lfs_pointer(saved):
    folder, _ = saved
    weights_path(folder).write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 171234\n"
    )
    with pytest.raises(ModelError, match="weights do not load"):
        load_model(folder)


def test_weights_file_that_is_not_a_state_dict(saved):
    folder, _ = saved
    torch.save(torch.zeros(3), weights_path(folder))
    with pytest.raises(ModelError, match="weights do not load"):
        load_model(folder)


# ------------------------------------------------------------------ atomic saves


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in (MANIFEST, weights_path(folder).name))


def test_interrupted_weights_write_keeps_the_previous_model(saved, monkeypatch):
    folder, old = saved
    before = files(folder)
    real_write_bytes = pathlib.Path.write_bytes

    def half_then_fail(self, data):
        real_write_bytes(self, data[: len(data) // 2])  # a partial temp file exists when it fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_model(folder, make_model(seed=9), "seed-cnn", {"brands": ["x", "y", "z"]})
    monkeypatch.undo()
    assert files(folder) == before
    assert leftovers(folder) == []
    loaded, manifest = load_model(folder)
    assert manifest["brands"] == MANIFEST_EXTRA["brands"]
    assert torch.equal(outputs(loaded), outputs(old))


def test_interrupted_first_save_leaves_nothing_loadable(tmp_path, monkeypatch):
    folder = tmp_path / "fresh"

    def fail(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(pathlib.Path, "write_bytes", fail)
    with pytest.raises(KeyboardInterrupt):
        save_model(folder, make_model(seed=1), "seed-cnn", {})
    monkeypatch.undo()
    assert list(folder.iterdir()) == []
    with pytest.raises(ModelError, match="not a logolens model folder"):
        load_model(folder)


def test_interrupted_manifest_write_never_leaves_a_mix_that_loads(saved, monkeypatch):
    folder, old = saved

    def fail(path, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "atomic_write_json", fail)
    new = make_model(seed=9)  # same architecture, other weights, other brands
    with pytest.raises(OSError):
        save_model(folder, new, "seed-cnn", {"brands": ["x", "y", "z"]})
    monkeypatch.undo()
    assert leftovers(folder) == []
    try:
        loaded, manifest = load_model(folder)
    except ModelError:
        return  # refusing to load is acceptable
    # If it loads, it must be the old model entirely (old brands with old weights).
    assert manifest["brands"] == MANIFEST_EXTRA["brands"]
    assert torch.equal(outputs(loaded), outputs(old))


def test_resave_over_an_existing_model_replaces_it(saved):
    folder, _ = saved
    new = make_model(seed=5)
    save_model(folder, new, "seed-cnn", {"brands": ["x", "y", "z"]})
    loaded, manifest = load_model(folder)
    assert manifest["brands"] == ["x", "y", "z"]
    assert torch.equal(outputs(loaded), outputs(new))
    assert leftovers(folder) == []


def test_other_files_in_the_folder_are_left_alone(saved):
    folder, _ = saved
    (folder / "history.csv").write_text("epoch\n1\n")
    save_model(folder, make_model(seed=5), "seed-cnn", {})
    assert (folder / "history.csv").read_text() == "epoch\n1\n"


def test_dinov2_folder_saved_before_feature_blocks_loads_as_it_was_trained(tmp_path):
    """Model folders written before the classifier embedded block 10 as well have no
    ``feature_blocks`` in their config: they must rebuild with the final block only (768-d)."""
    torch.manual_seed(0)
    model = create_model("dinov2-s14", n_classes=3, image_size=56, feature_blocks=(12,), pretrained=False).eval()
    folder = save_model(tmp_path / "old", model, "dinov2-s14", {})
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["model_config"]["feature_blocks"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    loaded, _ = load_model(folder)
    assert loaded.config.feature_blocks == (12,) and loaded.backbone.embedding_dim == 768
    assert loaded.backbone.feature_id == ""  # its cached embeddings keep their old keys
    assert create_model("dinov2-s14", n_classes=3, pretrained=False).config.feature_blocks == (10, 12)  # new models


@pytest.mark.parametrize("blocks", [(10,), (8, 10, 12)])
def test_dinov2_feature_blocks_round_trip(tmp_path, blocks):
    model = create_model("dinov2-s14", n_classes=2, image_size=56, feature_blocks=blocks, pretrained=False).eval()
    loaded, manifest = load_model(save_model(tmp_path / "m", model, "dinov2-s14", {}))
    assert manifest["model_config"]["feature_blocks"] == list(blocks)
    assert loaded.config.feature_blocks == blocks and loaded.backbone.embedding_dim == 768 * len(blocks)


def test_feature_blocks_are_refused_for_a_backbone_without_them():
    with pytest.raises(ValueError, match="no feature blocks"):
        create_model("efficientnet-lite0", n_classes=2, feature_blocks=(3,), pretrained=False)


def test_detector_folder_saved_before_feature_blocks_reads_the_final_block_only(tmp_path):
    """Detector heads saved before they read blocks 10 and 12 were trained on the final block's
    384 channels; their folders have no ``feature_blocks`` and must rebuild that way."""
    old = create_model("dinov2-s14-detector", n_classes=2, image_size=56, feature_blocks=(12,), pretrained=False).eval()
    folder = save_model(tmp_path / "old", old, "dinov2-s14-detector", {"task": "detect"})
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["model_config"]["feature_blocks"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    loaded, _ = load_model(folder)
    assert loaded.config.feature_blocks == (12,)
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        grid = loaded.forward_features(x)
        tokens = loaded.vit.forward_features(x)
    assert grid.shape == (1, 384, 4, 4)
    torch.testing.assert_close(grid.flatten(2).transpose(1, 2), tokens["patch"])  # exactly the grid it was trained on
    new = create_model("dinov2-s14-detector", n_classes=2, image_size=56, pretrained=False).eval()
    assert new.config.feature_blocks == (10, 12) and new.forward_features(x).shape == (1, 768, 4, 4)
    assert json.loads((save_model(tmp_path / "new", new, "dinov2-s14-detector", {}) / MANIFEST).read_text())["model_config"]["feature_blocks"] == [10, 12]
