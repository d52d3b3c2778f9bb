"""Gallery search at scale: exact search against the HNSW index, on synthetic galleries.

Galleries of 10k and 100k entries are made like real ones: brands of 10 exemplars each, scattered
around a brand centre, unit vectors in the brand embedding's 768 dimensions. Queries are fresh
samples of random brands. Reported per size and index: build time, recall@1 of the approximate
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

DIM = 768
PER_BRAND = 10
NOISE = 2.5  # per-dimension spread around the brand centre: same-brand cosine about 0.14, others 0 +- 0.04


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_gallery(size: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_brands = size // PER_BRAND
    centres = rng.normal(size=(n_brands, DIM)).astype(np.float32)
    brands = np.repeat(np.arange(n_brands), PER_BRAND)
    vectors = unit(centres[brands] + NOISE * rng.normal(size=(size, DIM)).astype(np.float32))
    query_brands = rng.integers(0, n_brands, queries)
    query_vectors = unit(centres[query_brands] + NOISE * rng.normal(size=(queries, DIM)).astype(np.float32))
    return vectors, brands, query_vectors, query_brands


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
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    for size in args.sizes:
        vectors, brands, queries, query_brands = synthetic_gallery(size, args.queries)
        exact_ids = None
        for kind, build in (("exact", ExactIndex), ("hnsw", HnswIndex)):
            start = time.perf_counter()
            index = build(vectors)
            built = time.perf_counter() - start
            ids = index.search(queries, 1)[1][:, 0]
            exact_ids = ids if kind == "exact" else exact_ids
            median, p95, throughput = latencies(index, queries)
            rows.append([f"{size:,}", kind, f"{built:.2f}", f"{np.mean(ids == exact_ids):.3f}", f"{np.mean(brands[ids] == query_brands):.3f}",
                         f"{median:.2f}", f"{p95:.2f}", f"{throughput:,.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        names = [f"brand{b}" for b in brands]
        gallery = BrandGallery("synthetic", vectors, names, ["gallery"] * size, [f"x view {i}" for i in range(size)])
        gallery.match(queries[:1])  # builds the index (HNSW above the threshold)
        start = time.perf_counter()
        for query in queries[:100]:
            gallery.match(query[None])
        rows[-1 if size > APPROXIMATE_ABOVE else -2].append(f"{(time.perf_counter() - start) * 10:.2f}")
        rows[-2 if size > APPROXIMATE_ABOVE else -1].append("")
    header = ["entries", "index", "build (s)", "recall@1 vs exact", "brand accuracy", "median ms/query", "p95 ms/query",
              "queries/s (batches of 64)", "BrandGallery.match ms/query"]
    table = markdown_table(header, rows)
    print(table)
    write_section("gallery-index", f"""## Brand gallery search at scale

`{command_line()}`

Synthetic galleries (brands of {PER_BRAND} exemplars, {DIM}-d unit vectors), {args.queries} queries, 2 threads. The gallery searches
exactly up to {APPROXIMATE_ABOVE:,} entries and with faiss' HNSW graph above (M = 32, efSearch = 96); the last column is
the index the gallery itself uses at that size.

{table}
""")


if __name__ == "__main__":
    main()
