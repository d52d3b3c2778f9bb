"""``LogoClassifier``: brand recognition of logo crops, one object from training to prediction.

It follows scikit-learn's estimator contract: ``__init__`` only stores settings, ``fit`` learns
and returns ``self``, prediction refuses to run before ``fit`` or ``load``. The CLI, benchmarks
and (later) the service all go through it, so there is one code path per job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from logolens.data.crops import logo_samples
from logolens.data.dataset import LogoDataset
from logolens.data.images import load_image
from logolens.errors import NotFittedError
from logolens.evaluation.metrics import classification_report
from logolens.models.preprocessing import Preprocessing
from logolens.models.registry import create_model, get_entry
from logolens.models.storage import load_model, save_model
from logolens.training.loop import TrainConfig, fit_classifier, predict_logits
from logolens.training.tensors import samples_to_tensors


@dataclass(frozen=True)
class Prediction:
    brand: str
    score: float  # softmax probability, 0..1

    def to_json(self) -> dict:
        return {"brand": self.brand, "score": round(float(self.score), 6)}


class LogoClassifier:
    """Classify logo crops into brands.

    Parameters mirror ``logolens train``: ``model`` (registry name), ``image_size`` (square input
    side in pixels), ``margin``/``square`` (crop context, see :class:`Preprocessing`), and the
    training settings of :class:`TrainConfig` (``epochs``, ``lr``, ``decay``, ``batch_size``,
    ``optimizer``, ``seed``). Fitted attributes end in ``_``.
    """

    def __init__(
        self,
        model: str = "seed-cnn",
        image_size: int = 32,
        margin: float = 0.0,
        square: bool = False,
        epochs: int = 150,
        lr: float = 1e-4,
        decay: float = 1e-6,
        batch_size: int = 32,
        optimizer: str = "rmsprop",
        seed: int = 0,
        progress: bool = False,
    ):
        self.model = model
        self.image_size = image_size
        self.margin = margin
        self.square = square
        self.epochs = epochs
        self.lr = lr
        self.decay = decay
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.seed = seed
        self.progress = progress

    # -- training ---------------------------------------------------------------------------
    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, lr=self.lr, decay=self.decay, batch_size=self.batch_size, optimizer=self.optimizer, seed=self.seed
        )

    def fit(self, train: LogoDataset, val: LogoDataset | None = None) -> LogoClassifier:
        """Learn the brands of ``train`` (its whole brand list, in order) from its logo crops;
        ``val`` is scored after every epoch for the history."""
        config = self.train_config()
        entry = get_entry(self.model)
        preprocessing = entry.default_preprocessing(self.image_size)
        preprocessing = Preprocessing(**{**preprocessing.to_json(), "margin": self.margin, "square": self.square})
        brands = list(train.brands)
        if len(brands) < 2:
            raise ValueError(f"training data {train.name!r} has {len(brands)} brand(s); at least 2 are needed")
        samples = logo_samples(train)
        if not samples:
            raise ValueError(f"training data {train.name!r} has no logo boxes or labelled images")
        x_train, y_train = samples_to_tensors(samples, preprocessing, brands, self.progress)
        val_tensors = None
        if val is not None and logo_samples(val):
            val_tensors = samples_to_tensors(logo_samples(val), preprocessing, brands, self.progress)
        torch.manual_seed(self.seed)  # weight initialisation
        network = create_model(self.model, n_classes=len(brands), image_size=self.image_size)
        self.history_ = fit_classifier(network, (x_train, y_train), val_tensors, config, self.progress)
        self.network_, self.brands_, self.preprocessing_ = network, brands, preprocessing
        self.n_train_samples_ = len(samples)
        return self

    # -- prediction -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError("this LogoClassifier is not fitted yet; call fit() or LogoClassifier.load(dir) first")

    def predict_proba_tensors(self, x: torch.Tensor) -> np.ndarray:
        """Softmax probabilities ``(N, n_brands)`` for preprocessed inputs ``(N, 3, S, S)``."""
        self._check_fitted()
        return torch.softmax(predict_logits(self.network_, x), dim=1).numpy()

    def predict_proba(self, images: Sequence[Image.Image | str | Path], boxes: Sequence | None = None) -> np.ndarray:
        """Probabilities for each image (a path or a PIL image), cropped to ``boxes[i]`` if given."""
        self._check_fitted()
        boxes = boxes if boxes is not None else [None] * len(images)
        if len(boxes) != len(images):
            raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
        tensors = [self.preprocessing_(_as_image(image), box) for image, box in zip(images, boxes)]
        if not tensors:
            return np.zeros((0, len(self.brands_)), dtype=np.float32)
        return self.predict_proba_tensors(torch.stack(tensors))

    def classify(self, images: Sequence[Image.Image | str | Path], top_k: int = 5) -> list[list[Prediction]]:
        """The ``top_k`` brands per image, highest score first."""
        probabilities = self.predict_proba(images)
        return [top_predictions(row, self.brands_, top_k) for row in probabilities]

    def evaluate(self, dataset: LogoDataset) -> tuple[dict, np.ndarray]:
        """Metrics on every logo crop of ``dataset`` and the ``(N, n_brands)`` probabilities."""
        self._check_fitted()
        samples = logo_samples(dataset)
        unknown = sorted({s.brand for s in samples} - set(self.brands_))
        if unknown:
            raise ValueError(f"dataset {dataset.name!r} has brands the model does not know: {unknown}")
        x, y = samples_to_tensors(samples, self.preprocessing_, self.brands_, self.progress)
        probabilities = self.predict_proba_tensors(x)
        return classification_report(y.numpy(), probabilities, self.brands_), probabilities

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the model folder (atomically, see :mod:`logolens.models.storage`)."""
        self._check_fitted()
        manifest = {
            "task": "classify",
            "brands": list(self.brands_),
            "preprocessing": self.preprocessing_.to_json(),
            "settings": self.get_params(),
            **(extra or {}),
        }
        return save_model(directory, self.network_, self.model, manifest)

    @classmethod
    def load(cls, directory: str | Path) -> LogoClassifier:
        network, manifest = load_model(directory)
        settings = {k: v for k, v in manifest.get("settings", {}).items() if k in cls().get_params()}
        classifier = cls(**settings)
        classifier.network_ = network
        classifier.brands_ = list(manifest["brands"])
        classifier.preprocessing_ = Preprocessing.from_json(manifest["preprocessing"])
        classifier.manifest_ = manifest
        return classifier

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in (
            "model", "image_size", "margin", "square", "epochs", "lr", "decay", "batch_size", "optimizer", "seed"
        )}


def top_predictions(probabilities: np.ndarray, brands: Sequence[str], top_k: int = 5) -> list[Prediction]:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [Prediction(brands[i], float(probabilities[i])) for i in order]


def _as_image(image: Image.Image | str | Path) -> Image.Image:
    return image.convert("RGB") if isinstance(image, Image.Image) else load_image(image)


