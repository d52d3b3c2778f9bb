"""The seed CNN matches the blog post's Keras model: shapes, parameter count, flatten order; registry errors."""

from __future__ import annotations

import pytest
import torch

from logolens.models import create_model, list_models, make_config


def keras_parameter_count(image_size: int, n_classes: int, channels=(16, 32, 64), hidden: int = 64) -> int:
    """The Keras model's ``count_params()``, from Keras' own rules (independent of logolens).

    Conv2D(k x k, 'valid'): k*k*in*out + out weights and the side shrinks by k-1; MaxPooling2D(2)
    floors the side in half; Dense: in*out + out.
    """
    total, side, depth = 0, image_size, 3
    for filters in channels:
        total += 3 * 3 * depth * filters + filters
        side, depth = (side - 2) // 2, filters
    flat = side * side * depth
    total += flat * hidden + hidden
    total += hidden * n_classes + n_classes
    return total


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_keras_formula_gives_the_known_count_for_the_post_model():
    # The post's model on 32 px crops of FlickrLogos-27 (27 brands): 41,787 parameters.
    assert keras_parameter_count(32, 27) == 41787


@pytest.mark.parametrize(("image_size", "n_classes"), [(32, 27), (48, 27), (64, 10), (22, 2), (33, 5)])
def test_parameter_count_equals_the_keras_model(image_size, n_classes):
    model = create_model("seed-cnn", n_classes=n_classes, image_size=image_size)
    assert n_parameters(model) == keras_parameter_count(image_size, n_classes)


def test_parameter_count_for_32_px_and_27_brands_is_41787():
    assert n_parameters(create_model("seed-cnn", n_classes=27, image_size=32)) == 41787


def test_layer_output_shapes_for_32_px_input():
    model = create_model("seed-cnn", n_classes=7, image_size=32).eval()
    x = torch.randn(5, 3, 32, 32)  # (B, C, H, W)
    shapes = []
    for stage in model.stages:
        x = stage(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(5, 16, 15, 15), (5, 32, 6, 6), (5, 64, 2, 2)]
    features = model.forward_features(torch.randn(5, 3, 32, 32))
    assert features.shape == (5, 64)
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 7)


@pytest.mark.parametrize("image_size", [22, 48, 64])
def test_forward_works_at_other_sizes(image_size):
    model = create_model("seed-cnn", n_classes=3, image_size=image_size).eval()
    assert model(torch.randn(2, 3, image_size, image_size)).shape == (2, 3)


def test_flatten_is_channels_last_like_keras():
    # Dense input index (h * side + w) * channels + c must read feature map [c, h, w].
    torch.manual_seed(0)
    model = create_model("seed-cnn", n_classes=3, image_size=32).eval()
    x = torch.rand(1, 3, 32, 32)
    maps = model.stages(x)  # (1, 64, 2, 2)
    c, h, w, side = 5, 1, 0, 2
    with torch.no_grad():
        model.dense.weight.zero_()
        model.dense.bias.zero_()
        model.dense.weight[0, (h * side + w) * 64 + c] = 1.0
        features = model.forward_features(x)
    assert maps[0, c, h, w] > 0  # a non-zero activation, so the check is not vacuous
    assert features[0, 0].item() == pytest.approx(maps[0, c, h, w].item())
    assert torch.count_nonzero(features[0, 1:]) == 0


def test_keras_initialisation_zero_biases():
    model = create_model("seed-cnn", n_classes=4)
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(parameter) == 0, name
        else:
            assert parameter.abs().max() > 0, name


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = create_model("seed-cnn", n_classes=4).eval()
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


@pytest.mark.parametrize("image_size", [21, 16, 8])
def test_too_small_input_is_refused(image_size):
    with pytest.raises(ValueError, match=rf"image_size must be >= 22.*got {image_size}"):
        create_model("seed-cnn", n_classes=3, image_size=image_size)


def test_fewer_than_two_classes_is_refused():
    with pytest.raises(ValueError, match="n_classes"):
        create_model("seed-cnn", n_classes=1)


def test_registry_lists_seed_cnn():
    assert "seed-cnn" in list_models()


def test_unknown_model_name_suggests_the_close_one():
    with pytest.raises(ValueError, match=r"unknown model 'seed-cn'.*did you mean 'seed-cnn'"):
        create_model("seed-cn", n_classes=3)


def test_unknown_option_is_refused_with_allowed_ones():
    with pytest.raises(ValueError, match=r"n_clases.*did you mean 'n_classes'"):
        create_model("seed-cnn", n_clases=3)
    with pytest.raises(ValueError, match="image_size"):
        make_config("seed-cnn", widht=3)


def test_config_overrides_reach_the_model():
    model = create_model("seed-cnn", n_classes=5, image_size=40, channels=(8, 8, 8), hidden=16)
    assert model.config.channels == (8, 8, 8)
    assert n_parameters(model) == keras_parameter_count(40, 5, channels=(8, 8, 8), hidden=16)
