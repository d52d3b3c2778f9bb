"""Within-brand whitening: it must help nearest-neighbour matching of brands it never saw."""

from __future__ import annotations

import numpy as np

from logolens.gallery.projection import Whitening


def brands_with_nuisance(n_brands: int, per_brand: int, seed: int, dim: int = 32):
    """Brand identity lives in weak directions; strong nuisance (lighting, background) in a few others."""
    rng = np.random.default_rng(seed)
    nuisance = np.zeros(dim)
    nuisance[:4] = 6.0
    centres = rng.normal(size=(n_brands, dim)) * 0.6
    centres[:, :4] = 0
    x = np.concatenate([c + rng.normal(size=(per_brand, dim)) * 0.3 + rng.normal(size=(per_brand, dim)) * nuisance for c in centres])
    return x.astype(np.float32), np.repeat([f"b{seed}-{i}" for i in range(n_brands)], per_brand)


def one_shot_accuracy(project, x, y) -> float:
    first = np.array([np.where(y == b)[0][0] for b in np.unique(y)])
    rest = np.setdiff1d(np.arange(len(y)), first)
    sims = project(x[rest]) @ project(x[first]).T
    return float(np.mean(y[first][sims.argmax(axis=1)] == y[rest]))


def test_whitening_learned_on_trained_brands_helps_new_brands():
    trained_x, trained_y = brands_with_nuisance(10, 20, seed=0)
    new_x, new_y = brands_with_nuisance(8, 10, seed=1)
    whitening = Whitening.fit(trained_x, trained_y)
    raw = one_shot_accuracy(Whitening.identity(32), new_x, new_y)
    assert one_shot_accuracy(whitening, new_x, new_y) >= raw + 0.2


def test_projected_vectors_are_unit_length_and_degenerate_data_gives_identity():
    x, y = brands_with_nuisance(3, 5, seed=0)
    assert np.allclose(np.linalg.norm(Whitening.fit(x, y)(x), axis=1), 1.0, atol=1e-5)
    one_brand = Whitening.fit(x, ["same"] * len(x))
    np.testing.assert_array_equal(one_brand.matrix, np.eye(32, dtype=np.float32))
    identical = Whitening.fit(np.ones((6, 32)), ["a", "a", "a", "b", "b", "b"])
    np.testing.assert_array_equal(identical.matrix, np.eye(32, dtype=np.float32))
