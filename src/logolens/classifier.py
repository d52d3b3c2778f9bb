"""``LogoClassifier``: brand recognition of logo crops, one object from training to prediction.

It follows scikit-learn's estimator contract: ``__init__`` only stores settings, ``fit`` learns
and returns ``self``, prediction refuses to run before ``fit`` or ``load``. The CLI, benchmarks,
the sweep and (later) the service all go through it, so there is one code path per job.

Three ways to train, chosen by the model name and ``finetune_blocks``:

* ``seed-cnn``: the original post's CNN, trained end to end from scratch on crop tensors;
* a pretrained backbone with ``finetune_blocks=0`` (default): the backbone is frozen, crops are
  embedded once (cached on disk) and only a linear or MLP head is trained: seconds, not minutes;
* a pretrained backbone with ``finetune_blocks=N``: first the head is fitted on the frozen
  (cached) embeddings exactly as above (a linear probe), then the last N blocks train together
  with it on crops freshly augmented every epoch (logo-safe: never flipped), at a small learning
  rate for the blocks and ten times it for the head, warm-up then cosine (:data:`FINETUNE_RECIPE`;
  early stopping on the validation loss with ``patience``). Starting from a fitted head instead of a random
  one keeps the first large gradients from wrecking the pretrained features ("LP-FT", Kumar et
  al., 2022); it is also what makes a few epochs enough on two CPU cores.

Scores are temperature-calibrated on the validation crops when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from logolens.data.crops import CropSample, logo_samples
from logolens.data.dataset import LogoDataset
from logolens.data.images import load_image
from logolens.errors import ModelError, NotFittedError
from logolens.evaluation.calibration import expected_calibration_error, fit_temperature, softmax
from logolens.evaluation.metrics import classification_report
from logolens.inference.onnx_runtime import ONNX_FILE, OnnxRunner, TorchRunner, check_runtime, choose_runtime, export_is_current, export_onnx, quantize_onnx
from logolens.models import precision
from logolens.models.preprocessing import Preprocessing
from logolens.models.registry import create_model, get_entry
from logolens.models.storage import MANIFEST, load_model, read_manifest, save_model, update_manifest, weights_path
from logolens.training import feeding
from logolens.training.loop import TrainConfig, fit_classifier

FINETUNE_RECIPE = {"epochs": 8, "lr": 2e-5, "batch_size": 32, "weight_decay": 0.05, "patience": 0}
"""Settings of the fine-tuning stage (``finetune_blocks > 0``) where left ``None``: ``lr`` is the
blocks' learning rate; the linear probe before it uses the model's own recipe. No early stopping
by default: on FlickrLogos-27 the validation loss flattens after about three epochs while the
accuracy still climbs as the cosine schedule runs out (stopping there cost 3 points on one split);
``patience`` turns it on, keeping the best epoch's weights."""
FINETUNE_HEAD_LR_SCALE = 10.0  # the head learns at 10 x the blocks' rate while fine-tuning
FINETUNE_WARMUP = 0.1  # share of the fine-tuning steps with a linearly rising learning rate

TTA_MARGINS = (0.0, 0.15, 0.3)
"""Extra context (fraction of the box, added to the model's margin) of the test-time views."""

_SETTINGS = ("model", "image_size", "margin", "square", "head", "finetune_blocks", "epochs", "lr", "decay",
             "batch_size", "optimizer", "schedule", "weight_decay", "label_smoothing", "patience",
             "augment_views", "tta", "calibrate", "seed")


@dataclass(frozen=True)
class Prediction:
    brand: str
    score: float  # calibrated probability, 0..1
    source: str = "trained"  # which part of logolens named the brand: "trained" classes or the "gallery"

    def to_json(self) -> dict:
        return {"brand": self.brand, "score": round(float(self.score), 6), "source": self.source}


class LogoClassifier:
    """Classify logo crops into brands.

    ``model`` is a registry name (``logolens models``). Settings left ``None`` take the model's
    recipe (e.g. RMSprop 1e-4 for ``seed-cnn``, AdamW + cosine for backbones). ``image_size`` is
    the square input side in pixels; ``margin``/``square`` shape the crop (see
    :class:`Preprocessing`); ``head`` is ``linear`` or ``mlp``; ``augment_views`` adds that many
    augmented copies of every training crop to a frozen-backbone head's training set;
    ``tta`` averages predictions over crops with more context (:data:`TTA_MARGINS`);
    ``finetune_blocks`` > 0 fine-tunes that many last blocks after fitting the head, and the
    training settings (``epochs``, ``lr``, ...) then set the fine-tuning stage (defaults:
    :data:`FINETUNE_RECIPE`);
    ``cache_dir`` holds cached embeddings (``None``: the default cache, ``False``: none).
    Fitted attributes end in ``_``.
    """

    def __init__(
        self, model: str = "seed-cnn", image_size: int | None = None, margin: float | None = None,
        square: bool | None = None, head: str = "linear", finetune_blocks: int = 0, epochs: int | None = None,
        lr: float | None = None, decay: float | None = None, batch_size: int | None = None, optimizer: str | None = None,
        schedule: str | None = None, weight_decay: float | None = None, label_smoothing: float | None = None,
        patience: int | None = None, augment_views: int = 0, tta: bool = False, calibrate: bool = True,
        seed: int = 0, cache_dir: str | Path | bool | None = None, progress: bool = False,
    ):
        self.model = model
        self.image_size = image_size
        self.margin = margin
        self.square = square
        self.head = head
        self.finetune_blocks = finetune_blocks
        self.epochs = epochs
        self.lr = lr
        self.decay = decay
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.patience = patience
        self.augment_views = augment_views
        self.tta = tta
        self.calibrate = calibrate
        self.seed = seed
        self.cache_dir = cache_dir
        self.progress = progress

    # -- settings ---------------------------------------------------------------------------
    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in _SETTINGS}

    def resolved_params(self) -> dict:
        """Settings with the model's recipe filled in where they were left ``None`` (with
        ``finetune_blocks``, the training settings are those of the fine-tuning stage)."""
        entry = get_entry(self.model)
        base = entry.preprocessing(self.image_size or entry.default_image_size)
        defaults = {"image_size": base.image_size, "margin": base.margin, "square": base.square, **self._recipe(),
                    **(FINETUNE_RECIPE if self.finetunes else {})}
        params = self.get_params()
        return {k: (defaults[k] if v is None and k in defaults else v) for k, v in params.items()}

    def _recipe(self) -> dict:
        """The model's own training recipe (for a backbone: of its head on frozen embeddings)."""
        return {"decay": 0.0, "schedule": "keras", "weight_decay": 0.0, "label_smoothing": 0.0, "patience": 0,
                **get_entry(self.model).recipe, "seed": self.seed}

    def _preprocessing(self, params: dict) -> Preprocessing:
        base = get_entry(self.model).preprocessing(params["image_size"])
        return Preprocessing(**{**base.to_json(), "margin": params["margin"], "square": params["square"]})

    def _train_config(self, params: dict) -> TrainConfig:
        return TrainConfig(**{k: params[k] for k in ("epochs", "lr", "decay", "batch_size", "optimizer", "schedule",
                                                   "weight_decay", "label_smoothing", "patience", "seed")})

    def _network_options(self, params: dict, n_classes: int) -> dict:
        options = {"n_classes": n_classes, "image_size": params["image_size"]}
        if get_entry(self.model).pretrained:
            options.update(head=params["head"], finetune_blocks=params["finetune_blocks"])
        return options

    @property
    def uses_embeddings(self) -> bool:
        """Frozen pretrained backbone: train and score the head on (cached) embeddings."""
        return get_entry(self.model).pretrained and not self.finetune_blocks

    @property
    def finetunes(self) -> bool:
        """Pretrained backbone whose last blocks train too: a linear probe, then fine-tuning."""
        return get_entry(self.model).pretrained and bool(self.finetune_blocks)

    # -- training ---------------------------------------------------------------------------
    def fit(self, train: LogoDataset, val: LogoDataset | None = None) -> LogoClassifier:
        """Learn the brands of ``train`` (its whole brand list, in order) from its logo crops;
        ``val`` is scored after every epoch and calibrates the scores."""
        if get_entry(self.model).task != "classify":
            raise ValueError(f"{self.model!r} is a logo detector; train it with 'logolens train --task detect' (LogoDetector)")
        params = self.resolved_params()
        config = self._train_config(params)
        brands = list(train.brands)
        if len(brands) < 2:
            raise ValueError(f"training data {train.name!r} has {len(brands)} brand(s); at least 2 are needed")
        samples = logo_samples(train)
        if not samples:
            raise ValueError(f"training data {train.name!r} has no logo boxes or labelled images")
        val_samples = logo_samples(val) if val is not None else []
        self.brands_, self.preprocessing_, self.params_ = brands, self._preprocessing(params), params
        self.temperature_, self.calibration_ = 1.0, {}
        torch.manual_seed(self.seed)  # weight initialisation
        self.network_ = create_model(self.model, **self._network_options(params, len(brands)))
        y = _labels(samples, brands)
        y_val = _labels(val_samples, brands)
        if get_entry(self.model).pretrained:  # the head on frozen, cached embeddings: a linear probe
            x, x_val = feeding.embedding_sets(self, samples, val_samples, params)
            target = self.network_.head.standardise_with(x)
            probe = self._train_config({**params, **self._recipe()}) if self.finetunes else config
            val_data = (x_val, y_val) if len(val_samples) else None
            self.history_ = fit_classifier(target, (x, feeding.repeat_labels(y, len(x))), val_data, probe, self.progress)
        if not self.uses_embeddings:  # the network itself on crops: the seed CNN, or fine-tuning after the probe
            target, x_val = self.network_, feeding.crop_tensors(self, val_samples)
            val_data = (x_val, y_val) if len(val_samples) else None
            if self.finetunes:
                self.history_ = self._finetune(samples, y, val_data, config)
            else:
                self.history_ = fit_classifier(target, (feeding.crop_tensors(self, samples), y), val_data, config, self.progress)
        self.n_train_samples_ = len(samples)
        if val_data is not None and self.calibrate:
            self._calibrate(target, x_val, y_val)
        self.runner_ = None
        return self

    def _finetune(self, samples: Sequence[CropSample], y: torch.Tensor, val_data, config: TrainConfig) -> list[dict]:
        """Train the last blocks with the probed head on freshly augmented crops; returns the
        probe's history followed by this stage's (``stage`` column: ``probe`` / ``finetune``)."""
        tuned = fit_classifier(self.network_, feeding.augmented_batches(self, samples, y, config), val_data,
                               replace(config, warmup=FINETUNE_WARMUP), self.progress, lr_scale={"head.": FINETUNE_HEAD_LR_SCALE})
        probe = [{**row, "stage": "probe"} for row in self.history_]
        return probe + [{**row, "epoch": row["epoch"] + len(probe), "stage": "finetune"} for row in tuned]

    def _calibrate(self, target: torch.nn.Module, x_val: torch.Tensor, y_val: torch.Tensor) -> None:
        logits = TorchRunner(target)(x_val)
        self.temperature_ = fit_temperature(logits, y_val.numpy())
        self.calibration_ = {
            "temperature": self.temperature_,
            "val_ece_before": expected_calibration_error(softmax(logits), y_val.numpy()),
            "val_ece_after": expected_calibration_error(softmax(logits, self.temperature_), y_val.numpy()),
            "val_samples": int(len(y_val)),
        }

    # -- prediction -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "brands_"):
            raise NotFittedError("this LogoClassifier is not fitted yet; call fit() or LogoClassifier.load(dir) first")

    def _runner(self):
        if getattr(self, "runner_", None) is None:
            self.runner_ = TorchRunner(self.network)
        return self.runner_

    @property
    def network(self) -> torch.nn.Module:
        """The PyTorch network (built on first use for a model loaded to run with onnxruntime)."""
        self._check_fitted()
        if getattr(self, "network_", None) is None:
            self.network_, _ = load_model(self.model_dir_)
        return self.network_

    def predict_logits_tensors(self, x: torch.Tensor) -> np.ndarray:
        """Raw logits ``(N, n_brands)`` for preprocessed inputs ``(N, 3, S, S)``."""
        self._check_fitted()
        if len(x) == 0:
            return np.zeros((0, len(self.brands_)), dtype=np.float32)
        return np.asarray(self._runner()(x), dtype=np.float32)

    def predict_proba_tensors(self, x: torch.Tensor) -> np.ndarray:
        """Calibrated probabilities ``(N, n_brands)`` for preprocessed inputs ``(N, 3, S, S)``."""
        self._check_fitted()
        return softmax(self.predict_logits_tensors(x), self.temperature_) if len(x) else np.zeros((0, len(self.brands_)), np.float32)

    def predict_proba(self, images: Sequence[Image.Image | str | Path], boxes: Sequence | None = None) -> np.ndarray:
        """Probabilities for each image (a path or a PIL image), cropped to ``boxes[i]`` if given."""
        self._check_fitted()
        boxes = boxes if boxes is not None else [None] * len(images)
        if len(boxes) != len(images):
            raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
        decoded = [as_image(image) for image in images]
        views = self.views()
        total = np.zeros((len(images), len(self.brands_)), dtype=np.float64)
        for preprocessing in views:
            tensors = [preprocessing(image, box) for image, box in zip(decoded, boxes)]
            if tensors:
                total += self.predict_proba_tensors(torch.stack(tensors))
        return (total / len(views)).astype(np.float32)

    def views(self) -> list[Preprocessing]:
        """The preprocessing of each test-time view: one, or one per :data:`TTA_MARGINS` with ``tta``."""
        self._check_fitted()
        if not self.tta:
            return [self.preprocessing_]
        base = self.preprocessing_.to_json()
        return [Preprocessing(**{**base, "margin": base["margin"] + extra}) for extra in TTA_MARGINS]

    def classify(self, images: Sequence[Image.Image | str | Path], top_k: int = 5) -> list[list[Prediction]]:
        """The ``top_k`` brands per image, highest score first."""
        return [top_predictions(row, self.brands_, top_k) for row in self.predict_proba(images)]

    def evaluate(self, dataset: LogoDataset) -> tuple[dict, np.ndarray]:
        """Metrics on every logo crop of ``dataset`` and the ``(N, n_brands)`` probabilities."""
        self._check_fitted()
        samples = logo_samples(dataset)
        unknown = sorted({s.brand for s in samples} - set(self.brands_))
        if unknown:
            raise ValueError(f"dataset {dataset.name!r} has brands the model does not know: {unknown}")
        probabilities = feeding.sample_probabilities(self, samples)
        labels = _labels(samples, self.brands_).numpy()
        report = classification_report(labels, probabilities, self.brands_)
        report["ece"] = expected_calibration_error(probabilities, labels)
        report["tta"] = bool(self.tta)
        return report, probabilities

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the model folder (atomically, see :mod:`logolens.models.storage`)."""
        self._check_fitted()
        manifest = {
            "task": "classify",
            "brands": list(self.brands_),
            "preprocessing": self.preprocessing_.to_json(),
            "settings": {k: v for k, v in self.params_.items()},
            "temperature": self.temperature_,
            "calibration": self.calibration_,
            **(extra or {}),
        }
        directory = save_model(directory, self.network, self.model, manifest, keep_if_same_weights=("onnx",))
        self.model_dir_ = Path(directory)
        return directory

    def export_onnx(self, atol: float = 1e-3, quantize: bool = False) -> Path:
        """Write ``model.onnx`` into the saved model folder and record it in the manifest.

        The float graph must match PyTorch (max abs logit difference <= ``atol`` x the largest
        logit magnitude, at least ``atol``, on random inputs) or it is not kept. ``quantize``
        stores an int8 version instead (faster; its larger difference is recorded, not checked:
        measure its accuracy with ``logolens evaluate``).
        """
        directory = getattr(self, "model_dir_", None)
        if directory is None:
            raise NotFittedError("save the model before exporting it to ONNX")
        size = self.preprocessing_.image_size
        path = export_onnx(self.network, size, directory / ONNX_FILE)
        x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
        with precision.forced("float32"):  # the graph is float32: compare like with like
            reference = TorchRunner(self.network)(x)
        difference = float(np.abs(OnnxRunner(path)(x) - reference).max())
        if not difference <= atol * max(1.0, float(np.abs(reference).max())):
            path.unlink(missing_ok=True)
            raise ModelError(f"{path}: the ONNX export differs from PyTorch by {difference:.2e} (> {atol:g}); not kept")
        if quantize:
            quantize_onnx(path, path)
            difference = float(np.abs(OnnxRunner(path)(x) - reference).max())
        self.manifest_ = update_manifest(directory, {"onnx": {"file": ONNX_FILE, "weights": weights_path(directory).name,
                                                              "quantized": quantize, "max_abs_logit_difference": difference}})
        self.runner_ = None
        return path

    @classmethod
    def load(cls, directory: str | Path, runtime: str = "auto") -> LogoClassifier:
        """Load a model folder. ``runtime``: ``torch``, ``onnx`` (needs ``model.onnx``), or
        ``auto`` (the faster of the two, see :func:`~logolens.inference.onnx_runtime.choose_runtime`)."""
        check_runtime(runtime)  # before reading anything
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest.get("task", "classify") != "classify":
            raise ModelError(f"{directory}: a {manifest.get('task')!r} model, not a brand classifier")
        try:
            settings = {k: v for k, v in manifest.get("settings", {}).items() if k in _SETTINGS}
            classifier = cls(**settings)
            classifier.brands_ = list(manifest["brands"])
            classifier.preprocessing_ = Preprocessing.from_json(manifest["preprocessing"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelError(f"{directory / MANIFEST}: incomplete or invalid manifest ({error!r})") from None
        classifier.params_ = classifier.resolved_params()
        classifier.temperature_ = float(manifest.get("temperature", 1.0))
        classifier.calibration_ = manifest.get("calibration", {})
        classifier.manifest_, classifier.model_dir_ = manifest, directory
        classifier.network_, classifier.runner_ = None, None
        if choose_runtime(runtime, directory, export_is_current(directory, manifest)) == "onnx":
            classifier.runner_ = OnnxRunner(directory / ONNX_FILE)
        else:
            classifier.network_, _ = load_model(directory)
        return classifier


def top_predictions(probabilities: np.ndarray, brands: Sequence[str], top_k: int = 5) -> list[Prediction]:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    return [Prediction(brands[i], float(probabilities[i])) for i in order]


def _labels(samples: Sequence[CropSample], brands: Sequence[str]) -> torch.Tensor:
    index = {brand: i for i, brand in enumerate(brands)}
    return torch.tensor([index[s.brand] for s in samples], dtype=torch.long)


def as_image(image: Image.Image | str | Path) -> Image.Image:
    """A decoded RGB image from a path or a PIL image."""
    return image.convert("RGB") if isinstance(image, Image.Image) else load_image(image)
