"""Shared fixtures: one small generated dataset and one tiny trained model per test session.

Both are built once (about a second each) and shared read-only: a test that needs to change a
model folder copies it first (see ``model_copy``).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pytest

# Two threads (at most): most of the suite's time is DINOv2 forward passes, which two threads run
# 1.7x faster than one (the suite: 8 minutes instead of 13 on 2 cores). On a machine busy with other
# work, OpenMP's spin-waiting can make two threads far slower than one (tiny models' epochs 30x):
# run the tests with OMP_NUM_THREADS=1 there. Set before torch is imported (it reads it at start-up).
os.environ.setdefault("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))
if "torch" in sys.modules:  # imported earlier by a plugin: set it directly
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
# Backbone inference in float32 whatever the CPU (bfloat16 where it is native, by default), so
# numbers compared across runtimes or with references do not depend on the machine CI gets;
# tests/models/test_precision.py forces each precision itself.
os.environ["LOGOLENS_PRECISION"] = "float32"

@pytest.fixture(autouse=True, scope="session")
def _private_embedding_cache(tmp_path_factory):
    """Cached embeddings go to a temporary folder, never the user's ~/.cache."""
    os.environ["LOGOLENS_CACHE_DIR"] = str(tmp_path_factory.mktemp("embedding-cache"))


SYNTH_BRANDS = 4
SYNTH_IMAGES_PER_BRAND = 12
SYNTH_SEED = 0
VAL_FRACTION = 0.25
GALLERY_VIEWS = 1
"""Augmented views per crop in the test models' brand galleries (default 4): fewer, for speed."""
TRAIN_SETTINGS = dict(model="seed-cnn", image_size=32, epochs=15, lr=1e-3, batch_size=16, seed=0)
"""A few seconds of training: enough for the generated brands' distinct colours and shapes."""


@pytest.fixture(scope="session")
def train_settings() -> dict:
    """The LogoClassifier settings ``trained_model_dir`` was trained with."""
    return dict(TRAIN_SETTINGS)


@pytest.fixture(scope="session")
def synthetic_dataset_dir(tmp_path_factory) -> Path:
    """A FlickrLogos-27-style folder of 4 made-up brands x 12 scenes (1-2 logos each)."""
    from logolens.data.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("synthetic")
    generate_dataset(out, n_brands=SYNTH_BRANDS, images_per_brand=SYNTH_IMAGES_PER_BRAND, seed=SYNTH_SEED)
    return out


@pytest.fixture(scope="session")
def synthetic_dataset(synthetic_dataset_dir):
    from logolens.data.formats import load_dataset

    return load_dataset(synthetic_dataset_dir, format="flickr27")


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, synthetic_dataset_dir, synthetic_dataset) -> Path:
    """A model folder written by ``train_and_report`` (image-level split, 25% validation).

    Shared by the whole session: do not write into it.
    """
    from logolens.classifier import LogoClassifier
    from logolens.training.run import train_and_report

    out = tmp_path_factory.mktemp("trained") / "model"
    source = {"path": str(synthetic_dataset_dir.resolve()), "format": "flickr27", "images_dir": None}
    train_and_report(synthetic_dataset, out, LogoClassifier(**TRAIN_SETTINGS), val_fraction=VAL_FRACTION, data_source=source,
                     gallery_views=GALLERY_VIEWS)
    return out


@pytest.fixture
def model_copy(trained_model_dir, tmp_path) -> Path:
    """A private copy of the trained model folder, free to modify."""
    return Path(shutil.copytree(trained_model_dir, tmp_path / "model"))


DETECTOR_SETTINGS = dict(image_size=224, epochs=25, lr=2e-3, batch_size=8, patience=0, refine=2, rescore=2, seed=0)
"""A 16 x 16 patch grid and a short schedule: enough for the generated scenes, in well under a minute."""


@pytest.fixture(scope="session")
def trained_detector_dir(tmp_path_factory, synthetic_dataset_dir, synthetic_dataset) -> Path:
    """A detector folder written by ``train_detector_and_report`` (25 % validation). Read-only."""
    from logolens.detector import LogoDetector
    from logolens.training.run import train_detector_and_report

    out = tmp_path_factory.mktemp("detector") / "model"
    source = {"path": str(synthetic_dataset_dir.resolve()), "format": "flickr27", "images_dir": None}
    train_detector_and_report(synthetic_dataset, out, LogoDetector(**DETECTOR_SETTINGS), val_fraction=VAL_FRACTION, data_source=source,
                              gallery_views=GALLERY_VIEWS)
    return out


@pytest.fixture(scope="session")
def trained_detector(trained_detector_dir):
    from logolens.detector import LogoDetector

    return LogoDetector.load(trained_detector_dir)


FEWSHOT_BRANDS = 10
FEWSHOT_TRAINED = 8
FEWSHOT_SEED = 1


@pytest.fixture(scope="session")
def fewshot_dataset(tmp_path_factory):
    """10 made-up brands x 12 scenes (other marks than ``synthetic_dataset``'s)."""
    from logolens.data.formats import load_dataset
    from logolens.data.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("fewshot")
    generate_dataset(out, n_brands=FEWSHOT_BRANDS, images_per_brand=12, seed=FEWSHOT_SEED)
    return load_dataset(out, format="flickr27")


def brand_order(n: int = FEWSHOT_BRANDS) -> list[str]:
    """The few-shot brands' names in generation order."""
    from logolens.data.brand_marks import make_brands

    return [brand.name for brand in make_brands(n, seed=FEWSHOT_SEED)]


@pytest.fixture(scope="session")
def fewshot_model_dir(tmp_path_factory, fewshot_dataset) -> Path:
    """A seed-CNN classifier folder trained on the first 8 of the 10 brands, with its gallery's
    references (1 augmented view per crop). The 9th brand is for enrolling, the 10th stays unknown. Read-only."""
    from logolens.classifier import LogoClassifier
    from logolens.data.dataset import LogoDataset
    from logolens.training.run import train_and_report

    trained = brand_order(FEWSHOT_BRANDS)[:FEWSHOT_TRAINED]
    records = tuple(r for r in fewshot_dataset if set(r.brands) <= set(trained))
    out = tmp_path_factory.mktemp("fewshot-model") / "model"
    train_and_report(LogoDataset(records, tuple(sorted(trained)), "fewshot"), out, LogoClassifier(**TRAIN_SETTINGS),
                     val_fraction=VAL_FRACTION, gallery_views=GALLERY_VIEWS)
    return out


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def fake_reader(dataset):
    """A stand-in for rapidocr's ``ocr.read_lines`` (monkeypatch it in) that spells each boxed logo's
    brand on the logo, and nothing elsewhere; ``.calls`` lists the sizes of the pictures read."""
    import hashlib

    from logolens.data.images import load_image

    def key(image) -> str:
        return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()

    lines = {key(load_image(r.path)): [(b.brand, 0.95, b.xyxy) for b in r.boxes] for r in dataset}
    calls = []

    def read_lines(image):
        calls.append(image.size)
        return lines.get(key(image), [])

    read_lines.calls = calls
    return read_lines
