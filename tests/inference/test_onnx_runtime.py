"""ONNX export and the onnxruntime runner: parity with PyTorch, a dynamic batch axis, and model
folders that never run an ``model.onnx`` older than their weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from logolens.classifier import LogoClassifier
from logolens.data.images import load_image
from logolens.errors import ModelError, NotFittedError
from logolens.inference.onnx_runtime import ONNX_FILE, OnnxRunner, TorchRunner, export_onnx
from logolens.models.backbones import BackboneClassifier
from logolens.models.registry import create_model
from logolens.models.storage import MANIFEST, weights_path

pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install onnxruntime")

TOLERANCE = 1e-4  # max abs logit difference; observed ~1e-6


def random_batch(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


NETWORKS = {
    "seed-cnn": (lambda: create_model("seed-cnn", n_classes=3, image_size=32), 32),
    # random-weight DINOv2 at 56 px: the whole ViT graph (position-embedding interpolation included), no weights needed
    "dinov2-s14": (lambda: create_model("dinov2-s14", n_classes=3, image_size=56, pretrained=False), 56),
}


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def exported(request, tmp_path_factory):
    build, size = NETWORKS[request.param]
    torch.manual_seed(0)
    network = build().eval()
    path = export_onnx(network, size, tmp_path_factory.mktemp("onnx") / ONNX_FILE)
    return network, size, path


@pytest.mark.parametrize("batch", [5, 1, 3])
def test_onnxruntime_logits_match_pytorch(exported, batch):
    network, size, path = exported
    x = random_batch(batch, size, seed=batch)
    got = OnnxRunner(path)(x)
    expected = TorchRunner(network)(x)
    assert got.shape == expected.shape == (batch, 3)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(expected).max() > 1e-3  # not trivially zero


def test_runner_takes_numpy_and_float64(exported):
    network, size, path = exported
    x = random_batch(2, size)
    runner = OnnxRunner(path)
    np.testing.assert_allclose(runner(x.numpy().astype(np.float64)), runner(x), atol=1e-6)


def test_graph_names_and_dynamic_batch_axis(exported):
    onnx = pytest.importorskip("onnx")
    _, size, path = exported
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["logits"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, size, size]


def test_export_puts_the_network_in_eval_mode(tmp_path):
    network = create_model("seed-cnn", n_classes=3, image_size=32).train()
    export_onnx(network, 32, tmp_path / ONNX_FILE)
    assert not network.training


def test_the_dinov2_network_is_a_whole_backbone_classifier():
    network = NETWORKS["dinov2-s14"][0]()
    assert isinstance(network, BackboneClassifier)
    assert not network.config.pretrained and network.config.image_size == 56 and network.config.n_classes == 3


def test_broken_onnx_file_is_a_model_error(tmp_path):
    bad = tmp_path / ONNX_FILE
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot load the ONNX model"):
        OnnxRunner(bad)


# ------------------------------------------------------------------ model folders


def manifest(directory) -> dict:
    return json.loads((directory / MANIFEST).read_text())


@pytest.fixture
def exported_copy(model_copy):
    """A copy of the session's trained seed-cnn folder, exported to ONNX."""
    LogoClassifier.load(model_copy, runtime="torch").export_onnx()
    return model_copy


def test_export_records_onnx_in_the_manifest(exported_copy):
    recorded = manifest(exported_copy)["onnx"]
    assert recorded["file"] == ONNX_FILE and (exported_copy / ONNX_FILE).is_file()
    assert recorded["weights"] == weights_path(exported_copy).name
    assert 0.0 <= recorded["max_abs_logit_difference"] <= 1e-3


def test_auto_runtime_uses_an_up_to_date_export_and_agrees_with_torch(exported_copy, synthetic_dataset):
    with_onnx = LogoClassifier.load(exported_copy)
    with_torch = LogoClassifier.load(exported_copy, runtime="torch")
    assert isinstance(with_onnx.runner_, OnnxRunner)
    assert with_torch.runner_ is None
    images = [record.path for record in synthetic_dataset][:6]
    np.testing.assert_allclose(with_onnx.predict_proba(images), with_torch.predict_proba(images), atol=1e-5)
    assert isinstance(with_torch.runner_, TorchRunner)
    assert isinstance(LogoClassifier.load(exported_copy, runtime="onnx").runner_, OnnxRunner)


def test_onnx_runtime_without_model_onnx_is_a_model_error(model_copy):
    assert not (model_copy / ONNX_FILE).exists()
    with pytest.raises(ModelError, match=r"no up-to-date model\.onnx.*logolens export"):
        LogoClassifier.load(model_copy, runtime="onnx")
    assert LogoClassifier.load(model_copy).runner_ is None  # auto: torch, built on first use


def test_onnx_file_not_in_the_manifest_is_not_used(exported_copy):
    data = manifest(exported_copy)
    del data["onnx"]
    (exported_copy / MANIFEST).write_text(json.dumps(data))
    assert LogoClassifier.load(exported_copy).runner_ is None
    with pytest.raises(ModelError, match="no up-to-date"):
        LogoClassifier.load(exported_copy, runtime="onnx")


def test_export_after_resaving_with_new_weights_is_stale(exported_copy, synthetic_dataset):
    old_weights = weights_path(exported_copy).name
    classifier = LogoClassifier.load(exported_copy, runtime="torch")
    bias = list(classifier.network.parameters())[-1]
    assert bias.shape == (len(classifier.brands_),)
    with torch.no_grad():
        bias.add_(torch.linspace(-2, 2, len(bias)))  # new weights, other scores, sane logits
    classifier.save(exported_copy)
    assert weights_path(exported_copy).name != old_weights
    assert (exported_copy / ONNX_FILE).is_file()  # the old export is still on disk...

    reloaded = LogoClassifier.load(exported_copy)  # ...but auto falls back to torch
    assert not isinstance(reloaded.runner_, OnnxRunner)
    images = [record.path for record in synthetic_dataset][:4]
    np.testing.assert_array_equal(reloaded.predict_proba(images), classifier.predict_proba(images))
    x = torch.stack([reloaded.preprocessing_(load_image(path)) for path in images])
    stale_logits = OnnxRunner(exported_copy / ONNX_FILE)(x)
    assert np.abs(stale_logits - reloaded.predict_logits_tensors(x)).max() > 0.5  # the stale graph would answer differently
    assert isinstance(reloaded.runner_, TorchRunner)
    with pytest.raises(ModelError, match="no up-to-date model.onnx"):
        LogoClassifier.load(exported_copy, runtime="onnx")

    reloaded.export_onnx()  # a fresh export is current again
    assert manifest(exported_copy)["onnx"]["weights"] == weights_path(exported_copy).name
    fresh = LogoClassifier.load(exported_copy)
    assert isinstance(fresh.runner_, OnnxRunner)
    np.testing.assert_allclose(fresh.predict_proba(images), classifier.predict_proba(images), atol=1e-5)


def test_export_that_disagrees_with_torch_is_not_kept(model_copy):
    classifier = LogoClassifier.load(model_copy, runtime="torch")
    before = (model_copy / MANIFEST).read_bytes()
    with pytest.raises(ModelError, match="differs from PyTorch.*not kept"):
        classifier.export_onnx(atol=-1.0)  # no export can be within a negative tolerance
    assert not (model_copy / ONNX_FILE).exists()
    assert (model_copy / MANIFEST).read_bytes() == before
    assert sorted(p.name for p in model_copy.iterdir() if p.name.startswith(".")) == []


def test_export_needs_a_saved_model(synthetic_dataset):
    classifier = LogoClassifier(model="seed-cnn", image_size=32, epochs=1).fit(synthetic_dataset)
    with pytest.raises(NotFittedError, match="save the model"):
        classifier.export_onnx()


def test_unknown_runtime_is_refused(trained_model_dir):
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'"):
        LogoClassifier.load(trained_model_dir, runtime="tensorrt")


def test_int8_export_is_recorded_and_stays_close(exported_copy, synthetic_dataset):
    classifier = LogoClassifier.load(exported_copy, runtime="torch")
    float_size = (exported_copy / ONNX_FILE).stat().st_size
    classifier.export_onnx(quantize=True)
    entry = manifest(exported_copy)["onnx"]
    assert entry["quantized"] is True and entry["max_abs_logit_difference"] > 0
    quantized = LogoClassifier.load(exported_copy, runtime="onnx")
    assert isinstance(quantized.runner_, OnnxRunner)
    assert (exported_copy / ONNX_FILE).stat().st_size < float_size  # int8 weights are smaller
    images = [record.path for record in synthetic_dataset][:8]
    reference = classifier.predict_proba(images)
    probabilities = quantized.predict_proba(images)
    # int8 kernels differ by CPU: without AVX-512 VNNI, onnxruntime's u8s8 products can saturate (0.146 seen there)
    assert np.abs(probabilities - reference).max() < 0.2
    assert (probabilities.argmax(1) == reference.argmax(1)).mean() >= 0.75
