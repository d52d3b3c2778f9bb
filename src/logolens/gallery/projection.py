"""Within-brand whitening: the part of the brand embedding that is learned.

Raw DINOv2 features vary a lot between two photos of the same logo (lighting, angle, what is
around it). Whitening by the scatter *within* each trained brand shrinks exactly those
directions, so that what is left separates brands, including brands never trained on. On
FlickrLogos-27 it raised 5-shot recognition of 7 held-out brands among 27 from 0.73 to 0.88
(nearest neighbour, cosine). ``shrinkage`` mixes in the identity, which keeps the inverse stable
when there are few examples per brand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHRINKAGE = 0.2


@dataclass(frozen=True, eq=False)
class Whitening:
    """``x -> normalise(((x - mean) / scale) @ matrix)``, all float32."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    matrix: np.ndarray  # (D, D)

    @classmethod
    def identity(cls, dim: int) -> Whitening:
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32), np.eye(dim, dtype=np.float32))

    @classmethod
    def fit(cls, vectors: np.ndarray, brands: Sequence[str], shrinkage: float = SHRINKAGE) -> Whitening:
        """Learn from raw embeddings ``(N, D)`` of trained brands. Needs at least two brands and
        some variation within a brand, else it is the identity (cosine on raw features)."""
        x = np.asarray(vectors, np.float64)
        brands = np.asarray(brands, dtype=object)
        dim = x.shape[1] if x.ndim == 2 else 0
        if len(set(brands)) < 2 or len(x) < 3:
            return cls.identity(dim)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        within = np.zeros((dim, dim))
        for brand in sorted(set(brands)):
            members = z[brands == brand]
            members = members - members.mean(axis=0)
            within += members.T @ members
        within /= len(z)
        spread = np.trace(within) / dim
        if not spread > 1e-9:
            return cls.identity(dim)
        within = (1 - shrinkage) * within + shrinkage * spread * np.eye(dim)
        eigenvalues, eigenvectors = np.linalg.eigh(within)
        matrix = eigenvectors / np.sqrt(np.clip(eigenvalues, 1e-12, None))
        return cls(mean.astype(np.float32), scale.astype(np.float32), matrix.astype(np.float32))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Unit-length projected vectors ``(N, D)``: their dot products are cosine similarities."""
        z = ((np.asarray(vectors, np.float32) - self.mean) / self.scale) @ self.matrix
        return (z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)
