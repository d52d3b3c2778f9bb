"""LogoAugment: logo-safe distortions that never mirror, reproducible from the generator."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from logolens.training.augment import LogoAugment

DRAWS = 200
RED, BLUE = (230, 20, 20), (20, 40, 220)


@pytest.fixture(scope="module")
def asymmetric() -> Image.Image:
    """Left third red, the rest blue, with a white bar high on the right: mirroring is obvious."""
    image = Image.new("RGB", (96, 64), BLUE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 31, 63), fill=RED)
    draw.rectangle((60, 8, 90, 20), fill=(255, 255, 255))
    return image


def as_signal(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Red minus blue per pixel, resized to ``size``, zero-mean: what a mirror would move."""
    array = np.asarray(image.convert("RGB").resize(size, Image.BILINEAR), dtype=np.float64)
    signal = (array[..., 0] - array[..., 2]).ravel()
    return signal - signal.mean()


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def orientation(augmented: Image.Image, original: Image.Image) -> tuple[float, float]:
    """Correlation of ``augmented`` with ``original`` and with its mirror image."""
    signal = as_signal(augmented, original.size)
    return correlation(signal, as_signal(original, original.size)), correlation(signal, as_signal(ImageOps.mirror(original), original.size))


def test_the_orientation_check_detects_a_mirror(asymmetric):
    same, mirrored = orientation(ImageOps.mirror(asymmetric), asymmetric)
    assert mirrored > 0.9 and same < 0


def test_never_mirrors(asymmetric):
    augment = LogoAugment()
    for seed in range(DRAWS):
        augmented = augment(asymmetric, np.random.default_rng(seed))
        same, mirrored = orientation(augmented, asymmetric)
        assert same > mirrored, f"draw {seed} looks mirrored ({same:.2f} vs {mirrored:.2f})"
        array = np.asarray(augmented, dtype=np.float64)
        third = array.shape[1] // 3
        left = array[:, : third // 2]  # well inside the red third, whatever the crop and rotation
        right = array[:, -third:]
        assert left[..., 0].mean() > left[..., 2].mean(), f"draw {seed}: the left edge is not red"
        assert right[..., 2].mean() > right[..., 0].mean(), f"draw {seed}: the right edge is not blue"


def test_no_flip_setting_exists():
    assert not [f.name for f in fields(LogoAugment) if "flip" in f.name or "mirror" in f.name]


def test_same_seed_same_image_other_seed_other_image(asymmetric):
    augment = LogoAugment()
    first = augment(asymmetric, np.random.default_rng(7))
    again = augment(asymmetric, np.random.default_rng(7))
    assert first.size == again.size
    assert first.tobytes() == again.tobytes()
    others = {augment(asymmetric, np.random.default_rng(seed)).tobytes() for seed in range(8, 14)}
    assert first.tobytes() not in others and len(others) == 6


def test_a_generator_draws_afresh_on_each_call(asymmetric):
    augment, rng = LogoAugment(), np.random.default_rng(0)
    assert augment(asymmetric, rng).tobytes() != augment(asymmetric, rng).tobytes()


def test_the_input_is_left_unchanged(asymmetric):
    before = asymmetric.tobytes()
    LogoAugment()(asymmetric, np.random.default_rng(0))
    assert asymmetric.tobytes() == before


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK"])
def test_output_is_an_rgb_pil_image_no_larger_than_the_input(asymmetric, mode):
    for seed in range(5):
        augmented = LogoAugment()(asymmetric.convert(mode), np.random.default_rng(seed))
        assert isinstance(augmented, Image.Image)
        assert augmented.mode == "RGB"
        assert 0.8 * 96 - 1 <= augmented.width <= 96 and 0.8 * 64 - 1 <= augmented.height <= 64  # crop keeps >= 65 % of the area


def test_every_distortion_can_be_switched_off(asymmetric):
    identity = LogoAugment(min_scale=1.0, max_rotation=0.0, max_perspective=0.0, colour=0.0,
                           blur_probability=0.0, jpeg_probability=0.0)
    for seed in range(3):
        assert identity(asymmetric, np.random.default_rng(seed)).tobytes() == asymmetric.tobytes()


def test_colour_jitter_alone_keeps_the_geometry(asymmetric):
    colour_only = LogoAugment(min_scale=1.0, max_rotation=0.0, max_perspective=0.0, colour=0.3,
                              blur_probability=0.0, jpeg_probability=0.0)
    augmented = colour_only(asymmetric, np.random.default_rng(3))
    assert augmented.size == asymmetric.size and augmented.tobytes() != asymmetric.tobytes()
    assert correlation(as_signal(augmented, asymmetric.size), as_signal(asymmetric, asymmetric.size)) > 0.99
