"""The embedding cache: keyed by content, preprocessing, view and backbone; robust on disk.

A counting fake ``embed`` stands in for a backbone, so every test sees exactly how many crops
were computed rather than read back, and runs in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from logolens.data.crops import CropSample
from logolens.inference import embeddings as embeddings_module
from logolens.inference.embeddings import EmbeddingCache, default_cache_dir, embed_samples, file_digest
from logolens.models.preprocessing import Preprocessing

BACKBONE = "fake@0123456789abcdef"
PREPROCESSING = Preprocessing(image_size=16, margin=0.1, square=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class CountingEmbed:
    """A stand-in backbone: per-channel means and the top-left pixel, ``(B, 6)``; counts its inputs."""

    def __init__(self):
        self.computed = 0
        self.batches: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.computed += len(x)
        self.batches.append(len(x))
        return torch.cat([x.mean(dim=(2, 3)), x[:, :, 0, 0]], dim=1)  # (B, 6)


def write_image(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def samples(tmp_path) -> list[CropSample]:
    """Three images, the first with two boxes, the last labelled as a whole image."""
    folder = tmp_path / "images"
    folder.mkdir()
    paths = [write_image(folder / f"{i}.png", seed=i) for i in range(3)]
    return [
        CropSample(paths[0], (2.0, 3.0, 20.0, 25.0), "a"),
        CropSample(paths[0], (22.0, 5.0, 46.0, 30.0), "b"),
        CropSample(paths[1], (10.0, 10.0, 30.0, 30.0), "a"),
        CropSample(paths[2], None, "b"),
    ]


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def run(samples, cache_dir, preprocessing=PREPROCESSING, backbone=BACKBONE, **kwargs):
    """Embed with a fresh counter and a fresh cache object (as a new process would)."""
    embed, cache = CountingEmbed(), EmbeddingCache(cache_dir, backbone)
    vectors = embed_samples(embed, samples, preprocessing, cache, **kwargs)
    return vectors, embed.computed, cache


def test_first_run_computes_and_second_run_reads_everything_back(samples, cache_dir):
    first, computed, cache = run(samples, cache_dir)
    assert first.shape == (len(samples), 6) and first.dtype == np.float32
    assert computed == len(samples) and (cache.hits, cache.misses) == (0, len(samples))
    second, computed, cache = run(samples, cache_dir)
    assert computed == 0
    assert (cache.hits, cache.misses) == (len(samples), 0)
    np.testing.assert_array_equal(second, first)


def test_results_equal_an_uncached_run_and_keep_the_sample_order(samples, cache_dir):
    reference = embed_samples(CountingEmbed(), samples, PREPROCESSING, None)
    run(samples[::2], cache_dir)  # warm half of them
    mixed, computed, cache = run(samples, cache_dir)
    assert computed == len(samples[1::2]) and cache.hits == len(samples[::2])
    np.testing.assert_allclose(mixed, reference, rtol=1e-6)
    assert len({row.tobytes() for row in reference}) == len(samples)  # the crops really differ


def test_crops_are_embedded_in_batches(samples, cache_dir):
    embed = CountingEmbed()
    embed_samples(embed, samples, PREPROCESSING, EmbeddingCache(cache_dir, BACKBONE), batch_size=3)
    assert embed.batches == [3, 1]


@pytest.mark.parametrize("change", [
    {"margin": 0.3}, {"image_size": 24}, {"mean": (0.4, 0.5, 0.5)}, {"std": (0.3, 0.25, 0.25)}, {"square": False},
], ids=lambda change: next(iter(change)))
def test_changed_preprocessing_recomputes_everything(samples, cache_dir, change):
    run(samples, cache_dir)
    changed = Preprocessing(**{**PREPROCESSING.to_json(), **change})
    vectors, computed, cache = run(samples, cache_dir, preprocessing=changed)
    assert computed == len(samples) and cache.hits == 0
    np.testing.assert_allclose(vectors, embed_samples(CountingEmbed(), samples, changed, None), rtol=1e-6)
    _, computed, _ = run(samples, cache_dir)  # the original entries are still there
    assert computed == 0


def test_another_backbone_misses(samples, cache_dir):
    run(samples, cache_dir)
    _, computed, cache = run(samples, cache_dir, backbone="fake@fedcba9876543210")
    assert computed == len(samples) and cache.hits == 0


def test_rewritten_image_recomputes_only_its_crops(samples, cache_dir):
    first, _, _ = run(samples, cache_dir)
    path = samples[0].path  # two of the four samples
    before = path.stat()
    write_image(path, seed=99)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))  # a later write, whatever the clock's resolution
    vectors, computed, cache = run(samples, cache_dir)
    assert computed == 2 and cache.hits == 2
    assert not np.allclose(vectors[:2], first[:2])
    np.testing.assert_array_equal(vectors[2:], first[2:])


def test_touching_an_image_without_changing_it_still_hits(samples, cache_dir):
    run(samples, cache_dir)
    for sample in samples:
        os.utime(sample.path, ns=(sample.path.stat().st_atime_ns, sample.path.stat().st_mtime_ns + 5 * 10**9))
    _, computed, cache = run(samples, cache_dir)
    assert computed == 0 and cache.hits == len(samples)


def test_a_copied_image_is_found_by_content(samples, cache_dir, tmp_path):
    run(samples, cache_dir)
    copy = Path(shutil.copy(samples[2].path, tmp_path / "renamed.png"))
    assert file_digest(copy) == file_digest(samples[2].path)
    _, computed, cache = run([CropSample(copy, samples[2].box, "other brand")], cache_dir)
    assert computed == 0 and cache.hits == 1


def test_file_digest_is_the_sha256_of_the_content(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"logo" * 1000)
    b.write_bytes(b"logo" * 999 + b"LOGO")
    assert file_digest(a) == hashlib.sha256(b"logo" * 1000).hexdigest()
    assert file_digest(b) != file_digest(a)
    a.write_bytes(b"other content, other size")
    assert file_digest(a) == hashlib.sha256(b"other content, other size").hexdigest()


def test_same_size_rewrite_with_the_same_time_stamp_is_not_served_stale(tmp_path, cache_dir):
    path = tmp_path / "logo.bmp"  # BMP: the same pixel size gives the same file size
    Image.new("RGB", (32, 32), (255, 0, 0)).save(path)
    sample = CropSample(path, None, "a")
    red, computed, _ = run([sample], cache_dir)
    assert computed == 1
    stamp = path.stat()
    Image.new("RGB", (32, 32), (0, 0, 255)).save(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert path.stat().st_size == stamp.st_size
    blue, computed, _ = run([sample], cache_dir)
    assert computed == 1, "the rewritten image was not re-embedded"
    assert not np.allclose(blue, red)


def test_views_are_cached_apart(samples, cache_dir):
    run(samples, cache_dir)
    _, computed, cache = run(samples, cache_dir, view="tta-1")
    assert computed == len(samples) and cache.hits == 0
    _, computed, _ = run(samples, cache_dir, view="tta-1")
    assert computed == 0


def test_a_transformed_view_is_used_and_cached_apart(samples, cache_dir):
    plain, _, _ = run(samples, cache_dir)
    seen = []

    def negative(crop, sample):
        seen.append(sample)
        return Image.eval(crop, lambda v: 255 - v)

    augmented, computed, _ = run(samples, cache_dir, view="negative", transform=negative)
    assert computed == len(samples) and seen == samples
    assert not np.allclose(augmented, plain)
    again, computed, _ = run(samples, cache_dir, view="negative", transform=negative)
    assert computed == 0 and len(seen) == len(samples)
    np.testing.assert_array_equal(again, augmented)
    reread_plain, computed, _ = run(samples, cache_dir)
    assert computed == 0
    np.testing.assert_array_equal(reread_plain, plain)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*") if p.is_file())


def test_a_truncated_entry_is_recomputed_not_a_crash(samples, cache_dir):
    first, _, _ = run(samples, cache_dir)
    files = entries(cache_dir)
    assert len(files) == len(samples)
    victim = files[0]
    victim.write_bytes(victim.read_bytes()[:-8])
    vectors, computed, cache = run(samples, cache_dir)
    assert computed == 1 and cache.misses == 1
    np.testing.assert_array_equal(vectors, first)
    assert np.load(victim).shape == (6,)  # rewritten whole
    _, computed, _ = run(samples, cache_dir)
    assert computed == 0


@pytest.mark.parametrize("garbage", [b"\x93NUMPY", b"not a numpy file at all"], ids=["header-only", "junk"])
def test_a_garbled_entry_is_recomputed(samples, cache_dir, garbage):
    first, _, _ = run(samples, cache_dir)
    entries(cache_dir)[-1].write_bytes(garbage)
    vectors, computed, _ = run(samples, cache_dir)
    assert computed == 1
    np.testing.assert_array_equal(vectors, first)


def test_an_empty_entry_is_recomputed(samples, cache_dir):
    first, _, _ = run(samples, cache_dir)
    entries(cache_dir)[0].write_bytes(b"")
    vectors, computed, _ = run(samples, cache_dir)
    assert computed == 1
    np.testing.assert_array_equal(vectors, first)


def test_writes_leave_only_complete_npy_entries(samples, cache_dir):
    run(samples, cache_dir)
    run(samples, cache_dir, view="v")
    files = entries(cache_dir)
    assert len(files) == 2 * len(samples)
    assert all(f.suffix == ".npy" and not f.name.startswith(".") for f in files)
    assert all(f.parent.name == f.name[:2] for f in files)  # sharded by key prefix


def test_an_interrupted_write_leaves_no_temporary_file_and_no_entry(samples, cache_dir, monkeypatch):
    real_save = np.save

    def save_half_then_fail(handle, value, **kwargs):
        handle.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(embeddings_module.np, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        run(samples, cache_dir)
    assert entries(cache_dir) == []
    monkeypatch.setattr(embeddings_module.np, "save", real_save)
    _, computed, _ = run(samples, cache_dir)
    assert computed == len(samples)


def test_without_a_cache_everything_is_computed_every_time(samples):
    embed = CountingEmbed()
    embed_samples(embed, samples, PREPROCESSING, None)
    embed_samples(embed, samples, PREPROCESSING, None)
    assert embed.computed == 2 * len(samples)


def test_no_samples_gives_an_empty_array(cache_dir):
    embed = CountingEmbed()
    assert embed_samples(embed, [], PREPROCESSING, EmbeddingCache(cache_dir, BACKBONE)).shape == (0, 0)
    assert embed.computed == 0


def test_default_cache_dir_reads_the_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGOLENS_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("LOGOLENS_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "logolens" / "embeddings"
