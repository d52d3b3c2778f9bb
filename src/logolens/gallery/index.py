"""Nearest-neighbour search over unit vectors (inner product = cosine similarity).

Small galleries are searched exactly (one matrix product: for a few thousand exemplars nothing is
faster). Above :data:`APPROXIMATE_ABOVE` vectors an HNSW graph (faiss) answers in about a
millisecond per query with recall@1 close to exact search; see ``benchmarks/gallery_index.py``.
Building the graph takes a while (about a minute per 100k vectors on 2 cores), so
:func:`build_index` can keep it in a file named by the vectors' content and reuse it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from logolens.utils import atomic_write

APPROXIMATE_ABOVE = 20_000  # exemplar vectors; at or below: exact search
HNSW_NEIGHBOURS = 32  # graph degree M
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


class ExactIndex:
    """Brute-force search: exact, and the reference the approximate index is measured against."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(similarities, ids)``, each ``(Q, min(k, len))``, most similar first."""
        queries = np.asarray(queries, np.float32).reshape(-1, self.vectors.shape[1] if self.vectors.ndim == 2 else 0)
        k = min(k, len(self))
        if k == 0 or len(queries) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        similarity = queries @ self.vectors.T  # (Q, N)
        ids = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(similarity, ids, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(ids, order, axis=1).astype(np.int64)


class HnswIndex:
    """Approximate search with faiss' HNSW graph (inner product)."""

    kind = "hnsw"

    def __init__(self, vectors: np.ndarray | None = None, neighbours: int = HNSW_NEIGHBOURS, ef_search: int = HNSW_EF_SEARCH, index=None):
        import faiss

        if index is None:
            vectors = np.ascontiguousarray(vectors, np.float32)
            index = faiss.IndexHNSWFlat(vectors.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.add(vectors)
        index.hnsw.efSearch = ef_search
        self.index = index

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32)
        k = min(k, len(self))
        if k == 0 or len(queries) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        similarity, ids = self.index.search(queries, k)
        return similarity.astype(np.float32), ids.astype(np.int64)

    def save(self, path: str | Path) -> Path:
        import faiss

        return atomic_write(path, lambda tmp: faiss.write_index(self.index, str(tmp)))

    @classmethod
    def load(cls, path: str | Path) -> HnswIndex:
        import faiss

        return cls(index=faiss.read_index(str(path)))


def build_index(vectors: np.ndarray, approximate: bool | None = None, cache_dir: str | Path | None = None,
                name: str = "index") -> ExactIndex | HnswIndex:
    """Exact search up to :data:`APPROXIMATE_ABOVE` vectors, HNSW above (``approximate`` forces
    either). With ``cache_dir`` an HNSW graph is kept there as ``hnsw-<name>-<content hash>.faiss``
    (files of the same ``name`` and earlier contents are removed) and loaded instead of rebuilt."""
    if approximate is None:
        approximate = len(vectors) > APPROXIMATE_ABOVE
    if not approximate:
        return ExactIndex(vectors)
    if cache_dir is None:
        return HnswIndex(vectors)
    vectors = np.ascontiguousarray(vectors, np.float32)
    key = hashlib.sha256(vectors.tobytes() + repr((vectors.shape, HNSW_NEIGHBOURS, HNSW_EF_CONSTRUCTION)).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"hnsw-{name}-{key}.faiss"
    if path.is_file():
        try:
            return HnswIndex.load(path)
        except RuntimeError:  # unreadable: rebuild it
            pass
    index = HnswIndex(vectors)
    try:
        index.save(path)
        for stale in Path(cache_dir).glob(f"hnsw-{name}-*.faiss"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:  # a read-only model folder: search without keeping the graph
        pass
    return index
