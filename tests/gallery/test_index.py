"""Exact and approximate (HNSW) nearest-neighbour search."""

from __future__ import annotations

import numpy as np

from logolens.gallery.index import APPROXIMATE_ABOVE, ExactIndex, HnswIndex, build_index


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = 64, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return unit(centres[rng.integers(0, clusters, n)] + 0.5 * rng.normal(size=(n, dim)))


def test_exact_index_is_brute_force():
    vectors, queries = clustered(500), clustered(20, seed=1)
    sims, ids = ExactIndex(vectors).search(queries, 5)
    brute = queries @ vectors.T
    np.testing.assert_array_equal(ids[:, 0], brute.argmax(axis=1))
    np.testing.assert_allclose(sims, np.sort(brute, axis=1)[:, ::-1][:, :5], rtol=1e-5)
    assert (np.diff(sims, axis=1) <= 0).all()
    assert ExactIndex(vectors[:3]).search(queries, 10)[1].shape == (20, 3)


def test_hnsw_recall_against_exact_search():
    vectors, queries = clustered(5000), clustered(300, seed=1)
    exact = ExactIndex(vectors).search(queries, 1)[1][:, 0]
    approximate = HnswIndex(vectors).search(queries, 1)[1][:, 0]
    assert np.mean(approximate == exact) >= 0.95


def test_build_index_switches_to_hnsw_above_the_threshold():
    assert build_index(clustered(10)).kind == "exact"
    assert build_index(clustered(10), approximate=True).kind == "hnsw"
    assert APPROXIMATE_ABOVE >= 1000


def test_hnsw_graph_is_kept_and_reused(tmp_path):
    vectors, queries = clustered(3000), clustered(50, seed=1)
    first = build_index(vectors, approximate=True, cache_dir=tmp_path)
    build_index(vectors, approximate=True, cache_dir=tmp_path, name="other")  # another part's graph stays
    kept = list(tmp_path.glob("hnsw-index-*.faiss"))
    assert len(kept) == 1
    again = build_index(vectors, approximate=True, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.search(queries, 3)[1], again.search(queries, 3)[1])
    build_index(vectors[:2000], approximate=True, cache_dir=tmp_path)  # other contents replace the old graph
    assert len(list(tmp_path.glob("hnsw-index-*.faiss"))) == 1 and not kept[0].exists()
    assert len(list(tmp_path.glob("hnsw-other-*.faiss"))) == 1
