"""Gallery search at scale: exact search against the HNSW index, on synthetic galleries.

Galleries of 10k and 100k entries are made like real ones: brands of 10 exemplars each, scattered
around a brand centre, unit vectors in the brand embedding's 1536 dimensions; the variation lives in
a 64-d subspace as in real embeddings ("low-rank"), or, as a worst case, in all dimensions
("isotropic"). Queries are fresh samples of random brands. Reported per size and index: build time, recall@1 of the approximate
index against exact search (same nearest exemplar), brand accuracy of the nearest exemplar,
latency of one query at a time (median and 95th percentile) and throughput in batches of 64, and the
latency of a whole ``BrandGallery.match`` of one query (search plus brand scores and decisions).
Above ``APPROXIMATE_ABOVE`` entries the gallery switches to HNSW by itself.

    python benchmarks/gallery_index.py [--sizes 10000 100000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from results import command_line, markdown_table, write_section

from logolens.gallery.index import APPROXIMATE_ABOVE, ExactIndex, HnswIndex
from logolens.gallery.store import BrandGallery
from logolens.models.brand_embedding import BLOCKS

DIM = 2 * 384 * len(BLOCKS)  # the brand embedding's width: [CLS, mean patch] of DINOv2-S per block
PER_BRAND = 10
LATENT = 64


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_gallery(size: int, queries: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors, brands, queries, query brands)``. ``low-rank``: brands and their variation live
    in a 64-d subspace (real embeddings have a fast-decaying spectrum), same-brand cosine about 0.5;
    ``isotropic``: noise in all dimensions, same-brand cosine about 0.14, the worst case for
    any approximate index."""
    rng = np.random.default_rng(seed)
    n_brands = size // PER_BRAND
    brands = np.repeat(np.arange(n_brands), PER_BRAND)
    query_brands = rng.integers(0, n_brands, queries)
    if kind == "low-rank":
        mix = rng.normal(size=(LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)
        centres = rng.normal(size=(n_brands, LATENT)).astype(np.float32)

        def sample(of):
            return unit((centres[of] + 1.0 * rng.normal(size=(len(of), LATENT)).astype(np.float32)) @ mix
                        + 0.3 * rng.normal(size=(len(of), DIM)).astype(np.float32) / np.sqrt(DIM))
    else:
        centres = rng.normal(size=(n_brands, DIM)).astype(np.float32)

        def sample(of):
            return unit(centres[of] + 2.5 * rng.normal(size=(len(of), DIM)).astype(np.float32))
    return sample(brands), brands, sample(query_brands), query_brands


def latencies(index, queries: np.ndarray, n: int = 200) -> tuple[float, float, float]:
    """Median and p95 milliseconds of single queries, and queries per second in batches of 64."""
    times = []
    for query in queries[:n]:
        start = time.perf_counter()
        index.search(query[None], 1)
        times.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    for begin in range(0, len(queries), 64):
        index.search(queries[begin : begin + 64], 1)
    throughput = len(queries) / (time.perf_counter() - start)
    return float(np.median(times)), float(np.percentile(times, 95)), throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", nargs="+", default=["low-rank", "isotropic"], choices=("low-rank", "isotropic"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for kind in args.kinds:
        for size in args.sizes:
            vectors, brands, queries, query_brands = synthetic_gallery(size, args.queries, kind)
            exact_ids = None
            for index_kind, build in (("exact", ExactIndex), ("hnsw", HnswIndex)):
                start = time.perf_counter()
                index = build(vectors)
                built = time.perf_counter() - start
                ids = index.search(queries, 1)[1][:, 0]
                exact_ids = ids if index_kind == "exact" else exact_ids
                median, p95, throughput = latencies(index, queries)
                rows.append([kind, f"{size:,}", index_kind, f"{built:.2f}", f"{np.mean(ids == exact_ids):.3f}",
                             f"{np.mean(brands[ids] == query_brands):.3f}", f"{median:.2f}", f"{p95:.2f}", f"{throughput:,.0f}"])
                print(" | ".join(rows[-1]), flush=True)
            gallery = BrandGallery("synthetic", vectors, [f"brand{b}" for b in brands], ["gallery"] * size, [f"x view {i}" for i in range(size)])
            gallery.match(queries[:1])  # builds the index the gallery uses at this size
            start = time.perf_counter()
            for query in queries[:100]:
                gallery.match(query[None])
            used = -1 if size > APPROXIMATE_ABOVE else -2
            rows[used].append(f"{(time.perf_counter() - start) * 10:.2f}")
            rows[-3 - used].append("")
    header = ["data", "entries", "index", "build (s)", "recall@1 vs exact", "brand accuracy", "median ms/query", "p95 ms/query",
              "queries/s (batches of 64)", "BrandGallery.match ms/query"]
    table = markdown_table(header, rows)
    print(table)
    write_section("gallery-index", f"""## Brand gallery search at scale

`{command_line()}`

Synthetic galleries (brands of {PER_BRAND} exemplars, {DIM}-d unit vectors; low-rank: variation in a {LATENT}-d subspace, as real
embeddings; isotropic: the worst case), {args.queries} queries, 2 threads. The gallery searches
exactly up to {APPROXIMATE_ABOVE:,} entries and with faiss' HNSW graph above (M = 32, efSearch = 96); the last column is
the index the gallery itself uses at that size.

{table}
""")


if __name__ == "__main__":
    main()
