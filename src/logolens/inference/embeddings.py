"""Backbone embeddings of logo crops, with an on-disk cache keyed by content.

Training a head on a frozen backbone is only fast if the backbone runs once per crop. The cache
key covers everything the embedding depends on: the image file's *content* (not its path or
time stamp), the box, the preprocessing (size, margin, square, mean, std), the view (e.g. a
test-time scale) and the backbone's identity (name and weight hash). Change any of them and the
key changes, so a stale embedding can never be served. Entries are small ``.npy`` files written
atomically, so concurrent or interrupted runs cannot leave a corrupt entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from logolens.data.crops import CropSample
from logolens.data.images import load_image
from logolens.models.preprocessing import Preprocessing
from logolens.progress import track
from logolens.utils import atomic_write



def default_cache_dir() -> Path:
    """``$LOGOLENS_CACHE_DIR``, else ``~/.cache/logolens/embeddings`` (read at call time)."""
    return Path(os.environ.get("LOGOLENS_CACHE_DIR") or Path.home() / ".cache" / "logolens" / "embeddings")


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes. Deliberately not memoised by path and time stamp: a file rewritten
    within one clock tick, or restored with its old time stamp, must not keep its old digest."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class EmbeddingCache:
    """A folder of cached embeddings for one backbone identity (e.g. ``dinov2-s14@<sha256>``).

    ``hits`` and ``misses`` count look-ups since creation, which makes cache behaviour testable.
    """

    def __init__(self, directory: str | Path, backbone_id: str):
        self.directory = Path(directory)
        self.backbone_id = backbone_id
        self.hits = 0
        self.misses = 0

    def key(self, sample: CropSample, preprocessing: Preprocessing, view: str = "", digest: str | None = None) -> str:
        """The entry's name; ``digest`` is ``file_digest(sample.path)`` when the caller has it already."""
        payload = [self.backbone_id, preprocessing.to_json(), digest or file_digest(sample.path), sample.box, view]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # missing, truncated or empty entry: recompute
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: np.ndarray) -> None:
        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.save(handle, np.asarray(value, dtype=np.float32), allow_pickle=False)

        atomic_write(self._path(key), write)


def embed_samples(
    embed: Callable[[torch.Tensor], torch.Tensor],
    samples: Sequence[CropSample],
    preprocessing: Preprocessing,
    cache: EmbeddingCache | None = None,
    view: str = "",
    batch_size: int = 32,
    progress: bool = False,
    transform: Callable | None = None,
    digests: dict[Path, str] | None = None,
) -> np.ndarray:
    """``(N, D)`` float32 embeddings of ``samples`` from ``embed`` (a backbone in eval mode).

    Cached entries are read back; the rest are computed in batches, each image decoded once.
    ``transform(crop, sample)`` (PIL crop -> PIL crop) and ``view`` name an augmented view; pass
    a distinct ``view`` for every distinct transform so their embeddings are cached apart.
    ``digests`` (file content hashes by path, filled in here) lets several calls over the same
    images, one per view, hash each file once.
    """
    digests = {} if digests is None else digests  # one hash per image, however many boxes it has
    if cache:
        for sample in samples:
            if sample.path not in digests:
                digests[sample.path] = file_digest(sample.path)
    keys = [cache.key(s, preprocessing, view, digests[s.path]) if cache else "" for s in samples]
    found = {i: cache.get(k) for i, k in enumerate(keys)} if cache else {}
    todo = [i for i in range(len(samples)) if found.get(i) is None]
    computed: dict[int, np.ndarray] = {}
    for start in track(range(0, len(todo), batch_size), "embedding", total=-(-len(todo) // batch_size), enabled=progress and bool(todo)):
        batch = todo[start : start + batch_size]
        tensors = []
        images: dict[Path, object] = {}
        for i in batch:
            sample = samples[i]
            if sample.path not in images:
                images[sample.path] = load_image(sample.path)
            image = images[sample.path]
            crop = preprocessing.crop(image, sample.box)
            tensors.append(preprocessing.to_tensor(transform(crop, sample) if transform else crop))
        with torch.no_grad():
            vectors = embed(torch.stack(tensors)).float().numpy()  # (B, D)
        for i, vector in zip(batch, vectors):
            computed[i] = vector
            if cache:
                cache.put(keys[i], vector)
    rows = [found[i] if found.get(i) is not None else computed[i] for i in range(len(samples))]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32)
