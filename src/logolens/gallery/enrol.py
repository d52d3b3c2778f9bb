"""Brand embeddings of logo crops: enrolled examples, trained references and queries.

Every crop is embedded as is and in ``views`` augmented views (scale, framing, small rotation,
perspective, colour, blur, JPEG; never a flip: logos are chiral), on *both* sides of a match:

* exemplars (enrolled examples and the trained brands' references) keep one vector per view,
  so a brand learned from one photo already covers some of the ways it will look in the next;
* a query is the mean of its views' vectors (test-time augmentation).

Using the same views on both sides matters: on FlickrLogos-27, augmenting only the enrolled
examples made enrolled brands steal 12 % of the trained brands' crops; augmenting both sides
brought that to 2 % at the same 5-shot accuracy. Views are seeded by content (the image file's
for examples, the crop's pixels for queries), so the same input always gives the same vectors.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from logolens.data.crops import CropSample
from logolens.gallery.matching import calibrate_open_set
from logolens.gallery.projection import Whitening
from logolens.gallery.store import BrandGallery, crop_of, origin
from logolens.inference.embeddings import EmbeddingCache, default_cache_dir, embed_samples, file_digest
from logolens.models import brand_embedding
from logolens.training.augment import LogoAugment
from logolens.training.feeding import sample_rng

VIEWS = 4  # augmented views per crop, besides the crop itself (what fewer buy and cost: benchmarks/gallery_views_flickr27.py)


@functools.lru_cache(maxsize=1)
def load_embedder() -> brand_embedding.BrandEmbedder:
    """The brand embedding network (built once per process: about a second)."""
    return brand_embedding.BrandEmbedder()


def gallery_cache(cache_dir: str | Path | bool | None = None) -> EmbeddingCache | None:
    """The on-disk cache of brand embeddings (``cache_dir`` as for classifiers: ``None`` the
    default folder, ``False`` none)."""
    if cache_dir is False:
        return None
    return EmbeddingCache(cache_dir or default_cache_dir(), brand_embedding.cache_id())


def embed_examples(samples: Sequence[CropSample], views: int = VIEWS, cache: EmbeddingCache | None = None,
                   progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Raw brand embeddings ``(len(samples) * (1 + views), D)`` of example crops (image files)
    and their origins, view-major."""
    embedder, preprocessing, augment = load_embedder(), brand_embedding.PREPROCESSING, LogoAugment()
    digests = {path: file_digest(path) for path in {sample.path for sample in samples}} if views or cache else {}  # once per image, not per view
    blocks, origins = [], []
    for view in range(1 + views):
        transform = (lambda crop, sample, v=view: augment(crop, sample_rng(sample, f"brand-view-{v}", digests[sample.path]))) if view else None
        blocks.append(embed_samples(embedder, samples, preprocessing, cache, view=f"brand-view-{view}" if view else "",
                                    progress=progress, transform=transform, digests=digests))
        origins += [origin(sample, view) for sample in samples]
    return np.concatenate(blocks), origins


def embed_crop_views(images: Sequence, boxes: Sequence, views: int = VIEWS, batch_size: int = 32) -> np.ndarray:
    """Brand embeddings ``(1 + views, N, D)`` of each box cut from a decoded PIL image (``None``:
    the whole image) in each of its views, the plain crop first. View ``v`` of a crop is the same
    whatever ``views`` is, so the first ``1 + w`` rows of a call with ``views`` are a call with ``w``."""
    embedder, preprocessing, augment = load_embedder(), brand_embedding.PREPROCESSING, LogoAugment()
    crops = [preprocessing.crop(image, box) for image, box in zip(images, boxes)]
    vectors = np.zeros((1 + views, len(crops), embedder.embedding_dim), np.float32)
    for view in range(1 + views):
        shown = crops if not view else [augment(crop, _crop_rng(crop, view)) for crop in crops]
        for start in range(0, len(shown), batch_size):
            batch = torch.stack([preprocessing.to_tensor(crop) for crop in shown[start : start + batch_size]])
            with torch.no_grad():
                vectors[view, start : start + len(batch)] = embedder(batch).float().numpy()
    return vectors


def embed_crops(images: Sequence, boxes: Sequence, views: int = VIEWS, batch_size: int = 32) -> np.ndarray:
    """Query embeddings ``(N, D)``: the mean over ``1 + views`` views of each box cut from a
    decoded PIL image (``None``: the whole image)."""
    return query_embeddings(embed_crop_views(images, boxes, views, batch_size))


def query_embeddings(crop_views: np.ndarray) -> np.ndarray:
    """The queries ``(N, D)`` of :func:`embed_crop_views`'s ``(1 + views, N, D)``: the mean of each crop's views."""
    return crop_views.astype(np.float64).mean(axis=0).astype(np.float32)


def reference_texts(samples: Sequence[CropSample], progress: bool = False) -> dict[str, list[tuple[str, float]]]:
    """The ``(text, confidence)`` lines read in each crop (:func:`~logolens.inference.ocr.text_in`),
    keyed like the gallery's crops (:func:`~logolens.gallery.store.crop_of`); each image decoded once."""
    from logolens.data.images import load_image
    from logolens.inference.ocr import check_ocr, text_in
    from logolens.progress import track

    check_ocr()
    by_image: dict[str, list[CropSample]] = {}
    for sample in samples:
        by_image.setdefault(str(sample.path), []).append(sample)
    texts = {}
    for path, crops in track(list(by_image.items()), "reading the references' text", enabled=progress):
        image = load_image(path)
        texts.update({crop_of(origin(sample, 0)): text_in(image, sample.box) for sample in crops})
    return texts


def _crop_rng(crop, view: int) -> np.random.Generator:
    digest = hashlib.sha256(crop.convert("RGB").tobytes() + f"/{crop.size}/{view}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def reference_gallery(samples: Sequence[CropSample], views: int = VIEWS, cache: EmbeddingCache | None = None,
                      progress: bool = False, read_text: bool = False) -> BrandGallery:
    """A gallery of a model's trained brands from its training crops: the references enrolled
    brands are compared against, the whitening and the open-set calibration. ``read_text``
    also reads the text in every crop, to calibrate the open set of ``--ocr`` as well
    (:func:`~logolens.gallery.matching.calibrate_open_set`; needs rapidocr)."""
    texts = reference_texts(samples, progress) if read_text else None
    vectors, origins = embed_examples(samples, views=views, cache=cache, progress=progress)
    brands = [s.brand for s in samples] * (1 + views)
    projection = Whitening.fit(vectors, brands)
    calibration = calibrate_open_set(vectors, brands, [crop_of(o) for o in origins], texts=texts)
    return BrandGallery(brand_embedding.embedder_id(), vectors, brands, ["trained"] * len(brands), origins, projection,
                        calibration, views=views)
