"""How crops reach a network: as cached backbone embeddings, as fixed tensors, or freshly augmented.

:class:`~logolens.classifier.LogoClassifier` picks one of these per model; they live here so
the estimator reads as a recipe and each way of feeding data can be tested on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from logolens.data.crops import CropSample
from logolens.data.images import load_image
from logolens.evaluation.calibration import softmax
from logolens.inference.embeddings import EmbeddingCache, default_cache_dir, embed_samples, file_digest
from logolens.training.augment import LogoAugment
from logolens.training.loop import TrainBatches, TrainConfig
from logolens.training.tensors import samples_to_tensors

if TYPE_CHECKING:
    from logolens.classifier import LogoClassifier


def embedding_cache(classifier: LogoClassifier) -> EmbeddingCache | None:
    """The classifier's embedding cache, or ``None`` when ``cache_dir=False``."""
    from logolens.models.backbones import backbone_id

    if classifier.cache_dir is False:
        return None
    features = classifier.network.backbone.feature_id  # which tokens: part of what an embedding depends on
    return EmbeddingCache(classifier.cache_dir or default_cache_dir(), backbone_id(classifier.model) + features)


def sample_rng(sample: CropSample, view: str, digest: str | None = None) -> np.random.Generator:
    """A generator seeded by the crop's content (``digest`` of its image file, computed when not
    given) and the view name, so an augmented view is the same whether computed now or read from
    the cache, in any order."""
    key = json.dumps([digest or file_digest(sample.path), sample.box, view]).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def embeddings(classifier: LogoClassifier, samples: Sequence[CropSample], preprocessing=None, view: str = "", augment: bool = False) -> torch.Tensor:
    """``(N, D)`` frozen-backbone embeddings of ``samples`` (cached), optionally of an augmented view."""
    augmenter, digests = LogoAugment(), {}  # one hash per image for this call

    def transform(crop, sample: CropSample):
        if sample.path not in digests:
            digests[sample.path] = file_digest(sample.path)
        return augmenter(crop, sample_rng(sample, view, digests[sample.path]))

    vectors = embed_samples(
        classifier.network.backbone.eval(), samples, preprocessing or classifier.preprocessing_, embedding_cache(classifier),
        view=view, progress=classifier.progress, transform=transform if augment else None, digests=digests,
    )
    return torch.from_numpy(vectors)


def embedding_sets(classifier: LogoClassifier, samples: Sequence[CropSample], val_samples: Sequence[CropSample], params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Training embeddings (the crops, then ``augment_views`` augmented copies of them, in blocks)
    and validation embeddings."""
    blocks = [embeddings(classifier, samples)]
    for index in range(params["augment_views"]):
        blocks.append(embeddings(classifier, samples, view=f"augment-{index}", augment=True))
    return torch.cat(blocks), embeddings(classifier, val_samples) if val_samples else torch.zeros(0)


def repeat_labels(y: torch.Tensor, n: int) -> torch.Tensor:
    """``y`` repeated to match ``n`` rows made of whole blocks (see :func:`embedding_sets`)."""
    return y.repeat(n // max(len(y), 1))


def crop_tensors(classifier: LogoClassifier, samples: Sequence[CropSample], preprocessing=None) -> torch.Tensor:
    if not samples:
        return torch.zeros(0)
    return samples_to_tensors(samples, preprocessing or classifier.preprocessing_, classifier.brands_, classifier.progress)[0]


def augmented_batches(classifier: LogoClassifier, samples: Sequence[CropSample], y: torch.Tensor, config: TrainConfig) -> tuple[int, TrainBatches]:
    """Crops cut once, then augmented afresh for every batch of every epoch (for fine-tuning)."""
    preprocessing = classifier.preprocessing_
    crops, images = [], {}
    for sample in samples:
        if sample.path not in images:
            images = {sample.path: load_image(sample.path)}  # samples of one image are adjacent
        crops.append(preprocessing.crop(images[sample.path], sample.box))
    augmenter, rng = LogoAugment(), np.random.default_rng(config.seed)

    def batches(order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size].tolist()
            x = torch.stack([preprocessing.to_tensor(augmenter(crops[i], rng)) for i in batch])  # (B, 3, S, S)
            yield x, y[batch]

    return len(samples), batches


def sample_probabilities(classifier: LogoClassifier, samples: Sequence[CropSample]) -> np.ndarray:
    """Calibrated probabilities ``(N, n_brands)`` of crop samples, averaged over the test-time views.

    A frozen-backbone model run in PyTorch goes through the embedding cache; otherwise the crops
    are fed to the runner (PyTorch or onnxruntime) as tensors.
    """
    from logolens.inference.onnx_runtime import OnnxRunner

    total = np.zeros((len(samples), len(classifier.brands_)), dtype=np.float64)
    views = classifier.views()
    for preprocessing in views:
        if classifier.uses_embeddings and not isinstance(classifier.runner_, OnnxRunner):
            with torch.no_grad():
                logits = classifier.network.head(embeddings(classifier, samples, preprocessing)).numpy()
            total += softmax(logits, classifier.temperature_)
        else:
            total += classifier.predict_proba_tensors(crop_tensors(classifier, samples, preprocessing))
    return (total / len(views)).astype(np.float32)
