"""The synthetic generator: distinct brands, exact boxes, reproducible folders, learnable logos."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from logolens.data.dataset import NO_LOGO
from logolens.data.flickr27 import IMAGES_DIR, QUERY_FILE, TRAINING_FILE, read_query_annotations, read_training_annotations
from logolens.data.synthetic import (
    BRANDS_FILE,
    LAYOUTS,
    SHAPES,
    BrandMark,
    compose_scene,
    generate_dataset,
    load_brands,
    make_brands,
    render_scene,
)

N_BRANDS, PER_BRAND, NO_LOGOS = 8, 6, 3


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    dataset = generate_dataset(out, n_brands=N_BRANDS, images_per_brand=PER_BRAND, seed=7, no_logo_images=NO_LOGOS)
    return out, dataset


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ brands


def test_make_brands_is_deterministic_and_distinct():
    brands = make_brands(64, seed=3)
    assert brands == make_brands(64, seed=3)
    assert brands != make_brands(64, seed=4)
    assert len({b.name for b in brands}) == 64
    assert len({(b.shape, b.primary) for b in brands}) == 64
    assert len({b.primary for b in brands}) == 64
    for brand in brands:
        assert brand.name[0].isupper() and brand.name[1:].islower() and brand.name.isalpha()
        assert 2 <= len(brand.text) <= 4 and brand.text.isupper()
        assert brand.shape in SHAPES and brand.layout in LAYOUTS


def test_small_sets_use_different_shapes_and_well_separated_colours():
    brands = make_brands(8, seed=0)
    assert len({b.shape for b in brands}) == 8
    primaries = np.array([b.primary for b in brands], float)
    distances = np.linalg.norm(primaries[:, None] - primaries[None], axis=-1) + np.eye(8) * 1e9
    assert distances.min() > 60


@pytest.mark.parametrize("n_brands", [0, 65, -1])
def test_make_brands_rejects_bad_counts(n_brands):
    with pytest.raises(ValueError, match="1..64"):
        make_brands(n_brands)


def test_render_has_exact_height_and_tight_alpha_for_every_recipe():
    brands = [BrandMark("Test", shape, (200, 40, 40), (250, 250, 250), "ABC", layout)
              for shape in SHAPES for layout in LAYOUTS if layout != "badge"]
    brands += [b for b in make_brands(64, seed=1) if b.layout == "badge"]
    for brand in brands:
        for height in (8, 21, 64):
            image = brand.render(height)
            alpha = np.asarray(image)[..., 3]
            assert image.mode == "RGBA" and image.height == height
            assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any(), (brand, height)
    with pytest.raises(ValueError, match="8..2048"):
        brands[0].render(4)


def test_logos_are_not_mirror_symmetric():
    # Chiral marks: a mirrored copy must differ from the original (text alone guarantees it).
    for brand in make_brands(12, seed=0):
        pixels = np.asarray(brand.render(64)).astype(float)
        assert np.abs(pixels - pixels[:, ::-1]).mean() > 5, brand


# ------------------------------------------------------------------ scenes


def test_boxes_match_the_pasted_pixels_exactly():
    brands = make_brands(12, seed=2)
    for seed in range(30):
        rng = np.random.default_rng(seed)
        picks = [brands[seed % 12]] + [brands[(seed * 5 + 1) % 12]] * (seed % 3)
        scene = compose_scene(picks, rng, (200, 160), clutter=False, occlusion=False)
        pixels = np.asarray(scene.image).any(axis=-1)
        assert len(scene.boxes) == len(picks) == len(scene.masks)
        union = np.zeros_like(pixels)
        for box, mask in zip(scene.boxes, scene.masks):
            x1, y1, x2, y2 = (int(v) for v in box.xyxy)
            assert box.xyxy == (x1, y1, x2, y2)
            assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 160
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)
            union[y1:y2, x1:x2] = True
        assert not pixels[~union].any(), "logo pixels outside every box"
        if len(scene.boxes) == 1:  # alone, every side of the box touches a visible logo pixel
            x1, y1, x2, y2 = (int(v) for v in scene.boxes[0].xyxy)
            inside = pixels[y1:y2, x1:x2]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


def test_occluders_hide_under_30_percent_of_each_logo():
    brands = make_brands(6, seed=0)
    occluded = 0
    for seed in range(40):
        picks = [brands[seed % 6], brands[(seed + 1) % 6]]
        clean = compose_scene(picks, np.random.default_rng(seed), clutter=False, occlusion=False)
        covered = compose_scene(picks, np.random.default_rng(seed), clutter=False, occlusion=True)
        assert covered.boxes == clean.boxes  # occlusion never moves or shrinks a box
        changed = np.any(np.asarray(clean.image) != np.asarray(covered.image), axis=-1)
        for mask in clean.masks:
            share = (changed & mask).sum() / mask.sum()
            assert share < 0.3
            occluded += share > 0
    assert occluded >= 5


def test_render_scene_boxes_lie_inside_and_do_not_overlap():
    brands = make_brands(6, seed=0)
    rng = np.random.default_rng(0)
    shorter = 240
    for n_logos in (1, 2, 3):
        for _ in range(10):
            image, boxes = render_scene(brands, rng, (320, 240), n_logos=n_logos)
            assert image.mode == "RGB" and image.size == (320, 240)
            assert len(boxes) == n_logos
            names = {b.name for b in brands}
            for i, box in enumerate(boxes):
                assert box.brand in names
                assert 0 <= box.x1 < box.x2 <= 320 and 0 <= box.y1 < box.y2 <= 240
                assert min(box.width, box.height) >= 4
                assert max(box.width, box.height) <= 0.45 * shorter * 1.6  # rotation and warp grow the box
                for other in boxes[:i]:
                    inter = max(min(box.x2, other.x2) - max(box.x1, other.x1), 0) * max(min(box.y2, other.y2) - max(box.y1, other.y1), 0)
                    assert inter / (box.area + other.area - inter) < 0.1


def test_render_scene_without_logos_and_argument_checks():
    brands = make_brands(3, seed=0)
    image, boxes = render_scene(brands, np.random.default_rng(1), (128, 96), n_logos=0)
    assert boxes == [] and image.size == (128, 96)
    assert np.asarray(image).std() > 3  # a textured background, not a flat fill
    _, boxes = render_scene(brands, np.random.default_rng(1), n_logos=3, allow_same_brand=False)
    assert sorted(b.brand for b in boxes) == sorted(b.name for b in brands)
    with pytest.raises(ValueError, match="allow_same_brand"):
        render_scene(brands, np.random.default_rng(1), n_logos=4, allow_same_brand=False)
    with pytest.raises(ValueError, match="64..4096"):
        render_scene(brands, np.random.default_rng(1), size=(32, 240))
    with pytest.raises(ValueError, match="n_logos"):
        render_scene(brands, np.random.default_rng(1), n_logos=-1)


def test_render_scene_is_reproducible_from_the_generator():
    brands = make_brands(4, seed=0)
    first = render_scene(brands, np.random.default_rng(42), n_logos=2)
    second = render_scene(brands, np.random.default_rng(42), n_logos=2)
    assert first[1] == second[1]
    assert first[0].tobytes() == second[0].tobytes()


# ------------------------------------------------------------------ datasets


def test_generate_dataset_writes_a_flickr27_folder(generated):
    out, dataset = generated
    images = sorted((out / IMAGES_DIR).iterdir())
    assert [p.name for p in images] == [f"{i:05d}.jpg" for i in range(N_BRANDS * PER_BRAND + NO_LOGOS)]
    with Image.open(images[0]) as first:
        assert first.format == "JPEG" and first.size == (320, 240)
    assert len(dataset) == N_BRANDS * PER_BRAND
    assert Counter(record.primary_brand for record in dataset) == {b.name: PER_BRAND for b in make_brands(N_BRANDS, 7)}
    assert load_brands(out / BRANDS_FILE) == make_brands(N_BRANDS, seed=7)
    for record in dataset:
        assert 1 <= len(record.boxes) <= 2
        for box in record.boxes:
            assert 0 <= box.x1 and box.x2 <= record.width and 0 <= box.y1 and box.y2 <= record.height
            assert min(box.width, box.height) >= 4


def test_annotation_file_reads_back_to_the_returned_dataset(generated):
    out, dataset = generated
    again = read_training_annotations(out / TRAINING_FILE, out / IMAGES_DIR)
    assert [(r.path, r.boxes) for r in again] == [(r.path, r.boxes) for r in dataset]
    lines = (out / TRAINING_FILE).read_text().splitlines()
    assert len(lines) == dataset.n_boxes
    assert all(int(v) >= 0 for line in lines for v in line.split()[3:])


def test_query_file_lists_every_image_with_its_main_brand(generated):
    out, dataset = generated
    lines = [line.split("\t") for line in (out / QUERY_FILE).read_text().splitlines()]
    assert len(lines) == N_BRANDS * PER_BRAND + NO_LOGOS
    labels = dict(lines)
    assert Counter(labels.values())[NO_LOGO] == NO_LOGOS
    assert {r.path.name: r.primary_brand for r in dataset} == {k: v for k, v in labels.items() if v != NO_LOGO}
    query = read_query_annotations(out / QUERY_FILE, out / IMAGES_DIR)
    assert sum(not record.has_logo for record in query) == NO_LOGOS


def test_generate_dataset_is_byte_identical_for_a_seed(tmp_path):
    kwargs = dict(n_brands=3, images_per_brand=2, no_logo_images=1, image_size=(160, 120))
    generate_dataset(tmp_path / "a", seed=5, **kwargs)
    generate_dataset(tmp_path / "b", seed=5, **kwargs)
    generate_dataset(tmp_path / "c", seed=6, **kwargs)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a if name.endswith(".jpg"))


def test_generate_dataset_rejects_bad_arguments(tmp_path):
    for kwargs, message in [(dict(n_brands=0), "n_brands"), (dict(images_per_brand=0), "images_per_brand"),
                            (dict(no_logo_images=-1), "no_logo_images"), (dict(max_logos_per_image=0), "max_logos"),
                            (dict(image_size=(320, 10)), "64..4096")]:
        with pytest.raises(ValueError, match=message):
            generate_dataset(tmp_path, **kwargs)


def test_logos_are_learnable_from_crop_colours(generated):
    """Nearest-centroid on colour histograms of the box crops, split by image, beats chance 3x."""
    _, dataset = generated
    features, labels, image_ids = [], [], []
    for index, record in enumerate(dataset):
        with Image.open(record.path) as image:
            pixels = np.asarray(image.convert("RGB"))
        for box in record.boxes:
            crop = pixels[int(box.y1):int(box.y2), int(box.x1):int(box.x2)].reshape(-1, 3) // 64
            histogram = np.bincount(crop[:, 0] * 16 + crop[:, 1] * 4 + crop[:, 2], minlength=64).astype(float)
            features.append(np.sqrt(histogram / histogram.sum()))
            labels.append(dataset.brand_index(box.brand))
            image_ids.append(index)
    features, labels, test = np.array(features), np.array(labels), np.array(image_ids) % 3 == 0
    centroids = np.stack([features[~test & (labels == k)].mean(axis=0) for k in range(N_BRANDS)])
    predicted = np.argmin(((features[test][:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)
    accuracy = (predicted == labels[test]).mean()
    assert accuracy >= 3 / N_BRANDS, accuracy
