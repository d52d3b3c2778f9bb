"""``LogoDetector``: find every logo in a photo, name its brand, say how sure, or say "no logo".

How it works (see :mod:`logolens.models.detector` for the network):

1. The photo is letterboxed into a square canvas; frozen DINOv2 turns it into a grid of patch
   features; a small trained head marks logo centres (a heatmap), each centre's box, and a brand
   (by default three such heads, trained apart, and their outputs averaged: ``heads``).
2. Each heatmap peak is a candidate box. The best ``rescore`` candidates are cut out of the photo
   and re-scored by a crop classifier (:class:`~logolens.classifier.LogoClassifier`, trained on the
   same images), whose zoomed-in view names small logos far better than the coarse grid can;
   the two brand distributions are combined by their geometric mean. The classifier also knows a
   ``BACKGROUND`` class, learnt from the places where the trained head fires on no logo
   (:mod:`logolens.training.hard_negatives`), so it says how likely a candidate is a logo at
   all. When brands are enrolled in the folder's gallery (``logolens brands add``), the same
   candidates are matched against it (:mod:`logolens.recognition`): they may be named as an
   enrolled brand or as ``unknown``. The background class never saw the enrolled brands, so
   it is not asked about a box the gallery names as one of them.
3. A logistic calibrator, fitted on validation images and on logo-free pictures (never on
   held-out test data), turns each candidate's evidence (:data:`FEATURES`: the heads' and the
   classifier's opinions, and the box's size in the photo, since the same evidence is right less
   often on a small box) into the probability that it is a correct detection. Class-aware
   non-maximum suppression removes duplicates.
4. ``threshold_``, chosen on the same calibration pictures, is the default minimum score: an
   image with no detection above it is a "no logo" image, and the first detection of any other
   image is its image-level answer.

It follows the scikit-learn estimator contract, like ``LogoClassifier``; the CLI, the demo and
the benchmarks all go through it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from logolens import box_refiner
from logolens.classifier import LogoClassifier
from logolens.data.crops import CropSample
from logolens.data.dataset import ImageRecord, LogoDataset
from logolens.data.images import load_image
from logolens.data.no_logo import no_logo_images
from logolens.detections import Detections, clip_boxes
from logolens.errors import LogolensWarning, ModelError, NotFittedError
from logolens.evaluation.calibration import binary_calibration_error, fit_logistic
from logolens.evaluation.detection import detection_report, match_detections
from logolens.gallery.enrol import embed_crops
from logolens.gallery.folder import open_gallery
from logolens.gallery.store import UNKNOWN
from logolens.inference.embeddings import EmbeddingCache, default_cache_dir, embed_samples
from logolens.inference.letterbox import Placement, letterbox, placement_for, region_placement
from logolens.inference.onnx_runtime import ONNX_FILE, OnnxRunner, check_runtime, choose_runtime, export_is_current, export_onnx, quantize_onnx
from logolens.inference.tiles import tile_keeps, tile_regions
from logolens.models import precision
from logolens.models.backbones import DINOV2_BLOCKS, backbone_id, dinov2_feature_id
from logolens.models.detector import STORED_BLOCKS_DEFAULT, ProjectedHead, decode_peaks, head_members
from logolens.models.registry import create_model, get_entry
from logolens.models.storage import MANIFEST, load_model, read_manifest, save_model, update_manifest, weights_path
from logolens.progress import PhaseClock, track
from logolens.recognition import Recognition, active_gallery, combine, read_turned, with_texts
from logolens.training.detection_loop import DetectorTrainConfig, fit_detector_head
from logolens.training.detection_targets import DenseTargets, dense_targets
from logolens.training.hard_negatives import BACKGROUND, hard_negative_boxes, with_background

MODEL = "dinov2-s14-detector"
CLASSIFIER_DIR = "classifier"  # the re-scoring crop classifier's model folder, inside the detector's
CHECKPOINT = "checkpoint.pt"
REFINER_CHECKPOINT = "checkpoint-refiner.pt"
MEMBER_SEED_STEP = 1000  # head i of an ensemble trains with seed + 1000 i: its own batch order and dropout masks
REFINER_DIR = "refiner"  # the box refiner's head (a model folder of its own)
FEATURES = ("objectness_logit", "refined_objectness_logit", "log_brand_probability", "refined", "rescored",
            "log_foreground_probability", "log_box_share")  # calibrator inputs, in the order their weights are stored
TRAINING_PHASES = ("patch grids", "detector heads", "box refiner grids", "box refiner heads", "hard negatives", "crop classifier", "calibration")
"""The parts of :meth:`LogoDetector.fit` timed in ``training_phases_`` (and the manifest), in the order they run:
backbone passes over the photos, the detector's heads, backbone passes over the refiner's crops, the refiner's
heads, the crop classifier's background examples, the crop classifier, calibration."""
_FEATURES_ADDED_LATER = 2  # "log_foreground_probability" and "log_box_share": older calibrators lack them (weight 0)
_SMALLEST_SHARE = 1e-3  # box side / photo side below which log_box_share stops falling
RUNNER_UP_MIN_PROBABILITY = 0.02  # a box's next brands below this are not listed (never right often enough to matter)

_SETTINGS = ("image_size", "feature_blocks", "feature_dims", "epochs", "lr", "batch_size", "weight_decay", "patience", "feature_dropout", "heads", "train_scales", "tiles", "refine",
             "refine_views", "refine_passes", "rescore", "classifier", "brands_per_box", "max_detections", "nms_iou", "calibrate", "read_text", "seed")


class LogoDetector:
    """Detect logos in whole images.

    ``image_size``: canvas side in pixels (multiple of 14; 448 gives a 32 x 32 patch grid, about
    one patch per 16 original pixels of a 500 px photo). ``train_scales``: the image's longest
    side as a fraction of the canvas for each cached training view (smaller views teach small
    logos, and much of the canvas around them is not a logo). Each view costs a backbone pass over
    every training photo and lengthens each head's epoch: on FlickrLogos-27 (seed 0, 2 cores, empty
    cache) ``(1.0,)`` trained in 1699 s against 2108 s for the default ``(1.0, 0.6)``, but raised
    false alarms on logo-free backgrounds from 0.075 to 0.20 and, at any fixed ``min_score``, gave
    lower image accuracy (``benchmarks/detect_training_flickr27.py``). ``refine_views``: jittered
    crops around each training box the box refiner learns from (:mod:`logolens.box_refiner`), a
    backbone pass each; 2 instead of 4 saved some 6 minutes there and lost mAP@0.5 (0.595 against
    0.629, both with ``train_scales=(1.0,)``). ``feature_dropout``: the share of those cached features zeroed at random in each
    training step of the head and of the box refiner, a regulariser for small training sets (on
    FlickrLogos-27 no clear gain: with one head 0.3 and 0.15 gave mAP@0.5 0.589 and 0.508 against
    0.565, one run each, ``benchmarks/detect_dropout_flickr27.py``; 0 is the default). ``heads``: dense heads trained
    apart (own initial weights, batch order and dropout masks) whose outputs are averaged, for the
    detector and its box refiner alike (:class:`~logolens.models.detector.HeadEnsemble`): a head
    learnt from a few hundred photos depends a lot on its draw, and the average of several is
    steadier (on FlickrLogos-27, 3 heads: mAP@0.5 0.629 against 0.565 for one, image accuracy 0.73
    against 0.70, ``benchmarks/detect_heads_flickr27.py``; 3 is the default, 1 trains the single
    head of earlier versions). Each adds its training time, and almost nothing at inference. ``tiles``: besides the whole view, look at the photo in ``tiles`` x ``tiles``
    overlapping tiles, each on its own canvas (:mod:`logolens.inference.tiles`; 0 or 1: the whole
    view only) for logos too small for the whole view, at the cost of ``tiles**2`` more backbone
    passes per photo (on FlickrLogos-27 it does not pay: the README says why). ``refine``: how many top candidates per image get a second, zoomed-in look that
    re-draws their box (:mod:`logolens.box_refiner`; 0: none), ``refine_passes`` times, each
    around the box of the pass before (two passes frame FlickrLogos-27 logos better, but let
    logos of brands enrolled later, which the refiner never saw, drift away: one is the default).
    ``rescore``: how many top candidates per image the crop classifier re-scores (0: none; faster, less accurate brands). ``classifier``: the crop
    classifier's registry model. ``brands_per_box``: each box is listed with its most likely brand and, as rows of their
    own, up to ``brands_per_box - 1`` next ones (:func:`with_runner_up_brands`), each scored by the same calibrator
    from its own brand probability: when the first brand is wrong the right one is often second, and a low-scored row
    for it still finds the logo (on FlickrLogos-27, 3 raised mAP@0.5 from 0.611 to 0.627 and changed no photo's
    answer: the runner-ups score below their box's first brand; 1 lists the first brand only, as detectors saved
    before the setting existed still do: ``logolens calibrate --brands-per-box 3`` switches it on for them).
    ``max_detections`` caps candidates per image; ``nms_iou`` is the class-aware NMS overlap.
    ``feature_blocks``: the DINOv2 blocks whose patch tokens both heads read (see
    :class:`~logolens.models.detector.DetectorConfig`). ``feature_dims``: the heads read the first
    ``feature_dims`` principal components of those 768 features, fitted on the training grids and
    applied to them once (:class:`~logolens.models.detector.PrincipalProjection`; 0: all 768, as
    detectors saved before the setting existed, and the default). The heads' 768-channel input layer
    is most of their training, and 128 components keep 95 % of the features' variance, but on
    FlickrLogos-27 (seed 0, 2 cores, empty cache, same day) 128 trained in 1924 s against 2628 s
    and lost: mAP@0.5 0.614 against 0.627, image accuracy 0.66 against 0.76, false alarms 0.125
    against 0.075 (``benchmarks/detect_feature_dims_flickr27.py``): an option for quicker training
    runs, not the default. ``read_text``: calibration also reads the
    text of every calibration picture, so that ``detect(ocr=True)`` scores its boxes knowing which
    brand names the photo spells (a second calibrator and threshold; needs ``rapidocr``).
    ``patience``: epochs without a lower validation loss before a head stops (each head and each
    refiner head on its own; the best epoch's weights are kept). A head learns its cached grids by
    heart within some 10-20 epochs and the validation loss then mostly rises, so 6 (12 before) stops
    sooner: on FlickrLogos-27 the six heads of the seed-0 detector trained 123 epochs instead of 159,
    and training from an empty cache took 35 minutes instead of 41 on 2 cores (with channels-last
    grids, :func:`~logolens.training.detection_loop.channels_last`, in that run too). Its mAP@0.5
    was 0.605, against 0.644 and 0.629 for two runs with 12: runs of the same settings differ by a
    few hundredths, so no clear loss, and no gain either (``benchmarks/detect_flickr27.py``).
    Fitted attributes end in ``_``.
    """

    def __init__(
        self, image_size: int = 448, feature_blocks: Sequence[int] = DINOV2_BLOCKS, feature_dims: int = 0, epochs: int = 60, lr: float = 1e-3,
        batch_size: int = 16, weight_decay: float = 1e-4, patience: int = 6, feature_dropout: float = 0.0, heads: int = 3, train_scales: Sequence[float] = (1.0, 0.6),
        tiles: int = 0, refine: int = 5, refine_views: int = box_refiner.TRAIN_VIEWS, refine_passes: int = 1, rescore: int = 5, classifier: str = "dinov2-s14",
        brands_per_box: int = 3, max_detections: int = 100, nms_iou: float = 0.5, calibrate: bool = True, read_text: bool = False, seed: int = 0,
        cache_dir: str | Path | bool | None = None, progress: bool = False,
    ):
        self.image_size = image_size
        self.feature_blocks = feature_blocks
        self.feature_dims = feature_dims
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.patience = patience
        self.feature_dropout = feature_dropout
        self.heads = heads
        self.train_scales = train_scales
        self.tiles = tiles
        self.refine = refine
        self.refine_views = refine_views
        self.refine_passes = refine_passes
        self.rescore = rescore
        self.classifier = classifier
        self.brands_per_box = brands_per_box
        self.max_detections = max_detections
        self.nms_iou = nms_iou
        self.calibrate = calibrate
        self.read_text = read_text
        self.seed = seed
        self.cache_dir = cache_dir
        self.progress = progress

    def get_params(self) -> dict:
        params = {name: getattr(self, name) for name in _SETTINGS}
        params["train_scales"] = [float(s) for s in self.train_scales]
        params["feature_blocks"] = [int(b) for b in self.feature_blocks]
        return params

    # -- training ---------------------------------------------------------------------------
    def fit(self, train: LogoDataset, val: LogoDataset | None = None, checkpoint_dir: str | Path | None = None) -> LogoDetector:
        """Learn to find the brands of ``train`` (its brand list, in order) from its boxes.

        ``val`` drives early stopping and calibration. ``checkpoint_dir`` keeps resumable
        checkpoints of the two heads' training there (removed when training completes).
        """
        brands = list(train.brands)
        if len(brands) < (2 if self.rescore else 1):
            raise ValueError(f"training data {train.name!r} has {len(brands)} brand(s); at least 2 are needed")
        records = [r for r in train if r.boxes or not r.brands]  # boxed images, and no-logo images as negatives
        if not any(r.boxes for r in records):
            raise ValueError(f"training data {train.name!r} has no logo boxes; detection training needs boxes")
        if not self.train_scales or not all(0.0 < float(s) <= 1.0 for s in self.train_scales):
            raise ValueError(f"train_scales must be fractions in (0, 1], got {list(self.train_scales)}")
        self._check_settings()
        if self.read_text and self.calibrate:
            from logolens.inference.ocr import check_ocr

            check_ocr()  # before training, not after it
        config = DetectorTrainConfig(self.epochs, self.lr, self.batch_size, self.weight_decay, self.patience, self.seed, self.feature_dropout)
        self.brands_ = brands
        self.preprocessing_ = get_entry(MODEL).preprocessing(self.image_size)
        self.runner_ = None
        torch.manual_seed(self.seed)
        self.network_ = create_model(MODEL, n_classes=len(brands), image_size=self.image_size, feature_blocks=tuple(self.feature_blocks), heads=self.heads,
                                     feature_dims=self.feature_dims)
        clock = PhaseClock()
        with clock.phase("patch grids"):
            train_data = self._grid_set(records, [float(s) for s in self.train_scales])
            val_records = [r for r in (val or []) if r.boxes or not r.brands]
            val_data = self._grid_set(val_records, [1.0]) if val_records else None
        fingerprint = self._fingerprint(records, val_records, config)
        with clock.phase("detector heads"):
            self.history_ = self._fit_heads(self.network_.head, train_data, val_data, config, checkpoint_dir, CHECKPOINT, fingerprint)
        self.refiner_, self.refiner_runner_ = None, None
        if self.refine:
            self.refiner_ = self._fit_refiner(records, val_records, config, checkpoint_dir, fingerprint, clock)
        self.classifier_, self.gallery_ = None, None  # a gallery is enrolled into the saved folder
        if self.rescore:
            with clock.phase("hard negatives"):
                grids = train_data[0][:len(records)] if float(self.train_scales[0]) == 1.0 else self._grids(records, 1.0, (0.0, 0.0))
                negatives = self._hard_negatives(records, grids) | (self._hard_negatives(val_records, val_data[0]) if val_records else {})
            with clock.phase("crop classifier"):
                self.classifier_ = LogoClassifier(self.classifier, seed=self.seed, cache_dir=self.cache_dir, progress=self.progress)
                self.classifier_.fit(with_background(train, negatives), with_background(val, negatives) if val is not None else None)
        self.calibrator_ = {"weights": [1.0, 0.0, 1.0, *[0.0] * (len(FEATURES) - 3)], "bias": 0.0, "threshold": 0.5, "fitted": False}
        if self.calibrate and val_records:
            with clock.phase("calibration"):
                self._calibrate(val_records, val_data[0])
        self.training_phases_ = clock.seconds  # where the time went, saved in the manifest
        if checkpoint_dir is not None:
            for name in (CHECKPOINT, REFINER_CHECKPOINT):
                for member in range(self.heads):
                    _member_file(Path(checkpoint_dir), name, member).unlink(missing_ok=True)
        return self

    def _fit_heads(self, head: torch.nn.Module, train, val, config: DetectorTrainConfig, checkpoint_dir, checkpoint_name: str,
                   fingerprint: str, what: str = "detector") -> list[dict]:
        """Train ``head``, or each member of an ensemble in turn (member ``i`` with training seed
        ``seed + MEMBER_SEED_STEP * i``, checkpointed in a file of its own, so an interrupted run
        resumes inside the member it was training and skips the finished ones). Returns the
        history, rows tagged with their ``head`` when there are several."""
        members = head_members(head)
        if isinstance(head, ProjectedHead):  # fitted on the training grids, applied to them once; the members then read the projection
            head.projection.fit(train[0], seed=config.seed)
            train = (head.projection.project(train[0]), train[1])
            val = (head.projection.project(val[0]), val[1]) if val is not None else None
        history = []
        for i, member in enumerate(members):
            member_config = replace(config, seed=config.seed + MEMBER_SEED_STEP * i)
            checkpoint = _member_file(Path(checkpoint_dir), checkpoint_name, i) if checkpoint_dir is not None else None
            label = f"training {what}" + (f" head {i + 1}/{len(members)}" if len(members) > 1 else "")
            rows = fit_detector_head(member, train, val, member_config, checkpoint, f"{fingerprint}-head{i}" if i else fingerprint,
                                     self.progress, description=label)
            history += [{"head": i, **row} for row in rows] if len(members) > 1 else rows
        head.eval()
        return history

    def _check_settings(self) -> None:
        if (self.tiles < 0 or self.rescore < 0 or self.refine < 0 or self.refine_passes < 1 or self.refine_views < 1 or self.max_detections < 1
                or self.brands_per_box < 1 or not 0.0 < self.nms_iou <= 1.0):
            raise ValueError(f"tiles, refine and rescore must be >= 0, refine_passes, refine_views, brands_per_box and max_detections >= 1 "
                             f"and nms_iou in (0, 1]; got {self.tiles}, {self.refine}, {self.rescore}, {self.refine_passes}, {self.refine_views}, "
                             f"{self.brands_per_box}, {self.max_detections}, {self.nms_iou}")

    def _fit_refiner(self, records, val_records, config: DetectorTrainConfig, checkpoint_dir, fingerprint: str, clock: PhaseClock):
        """Train the box refiner's head on jittered crops around the training boxes (timed on ``clock``:
        the crops' patch grids, then the heads)."""
        refiner = create_model(MODEL, n_classes=len(self.brands_), image_size=box_refiner.SIZE, feature_blocks=tuple(self.feature_blocks),
                               heads=self.heads, feature_dims=self.feature_dims)
        preprocessing = get_entry(MODEL).preprocessing(box_refiner.SIZE)
        brand_index = {brand: i for i, brand in enumerate(self.brands_)}
        cache = self._cache()

        def region_set(chosen: Sequence[ImageRecord], seed: int) -> tuple[torch.Tensor, DenseTargets] | None:
            rng = np.random.default_rng(seed)
            pairs = [(r, region) for r in chosen if r.boxes for region in box_refiner.training_regions(r, rng, self.refine_views)]
            if not pairs:
                return None
            samples = [CropSample(r.path, region, r.primary_brand) for r, region in pairs]
            grids = box_refiner.region_grids(refiner, samples, preprocessing, cache, self.progress)
            targets = [box_refiner.region_targets(r, region, brand_index, refiner.config.grid) for r, region in pairs]
            return grids, DenseTargets.stack(targets)

        with clock.phase("box refiner grids"):
            train_regions, val_regions = region_set(records, self.seed), region_set(val_records, self.seed + 1)
        with clock.phase("box refiner heads"):
            self._fit_heads(refiner.head, train_regions, val_regions, config, checkpoint_dir, REFINER_CHECKPOINT, fingerprint + "-refiner",
                            what="box refiner")
        return refiner.eval()

    def _hard_negatives(self, records: Sequence[ImageRecord], grids: torch.Tensor) -> dict[ImageRecord, np.ndarray]:
        """Where the trained head peaks on no logo in ``records`` (their full-size canvas ``grids``):
        the crop classifier's ``BACKGROUND`` examples (:mod:`logolens.training.hard_negatives`)."""
        return dict(zip(records, hard_negative_boxes(self.network_.head, records, grids, self.image_size)))

    def _fingerprint(self, records: Sequence[ImageRecord], val_records: Sequence[ImageRecord], config: DetectorTrainConfig) -> str:
        payload = [self.get_params(), config.__dict__, self.network_.config.__dict__, self.brands_,
                   [[str(r.path), [b.xyxy + (b.brand,) for b in r.boxes]] for r in (*records, *val_records)]]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def _grid_set(self, records: Sequence[ImageRecord], scales: Sequence[float]) -> tuple[torch.Tensor, DenseTargets]:
        """Patch grids (N, C, h, w) float16 of every record at every scale, and their targets."""
        grids, targets = [], []
        brand_index = {brand: i for i, brand in enumerate(self.brands_)}
        for fill in scales:
            offset = (0.0, 0.0) if fill == 1.0 else (0.5, 0.5)
            grids.append(self._grids(records, fill, offset))
            for record in records:
                placement = placement_for(record.width, record.height, self.image_size, fill, offset)
                boxes = placement.to_canvas(record.box_xyxy)
                labels = np.array([brand_index.get(b.brand, -1) for b in record.boxes])
                keep = labels >= 0
                targets.append(dense_targets(boxes[keep], labels[keep], self.network_.config.grid))
        return torch.cat(grids), DenseTargets.stack(targets)

    def _cache(self) -> EmbeddingCache | None:
        if self.cache_dir is False:
            return None
        blocks = tuple(self.feature_blocks)
        return EmbeddingCache(self.cache_dir or default_cache_dir(), backbone_id("dinov2-s14") + dinov2_feature_id(blocks))

    def _grids(self, records: Sequence[ImageRecord], fill: float, offset: tuple[float, float]) -> torch.Tensor:
        cache = self._cache()
        size, net = self.image_size, self.network  # PyTorch's, also for a detector loaded to run onnxruntime

        def embed(x: torch.Tensor) -> torch.Tensor:
            return net.forward_features(x).flatten(1)  # (B, C*h*w)

        flat = embed_samples(
            embed, [CropSample(r.path, None, r.primary_brand) for r in records], self.preprocessing_, cache,
            view=f"canvas-{size}-fill{fill:g}-at{offset[0]:g},{offset[1]:g}", batch_size=8, progress=self.progress,
            transform=lambda crop, sample: letterbox(crop, size, fill, offset)[0],
        )
        grid = self.network_.config.grid
        return torch.from_numpy(flat).reshape(len(records), -1, grid, grid).to(torch.float16, memory_format=torch.channels_last)  # as training reads them (detection_loop.channels_last)

    def recalibrate(self, val: LogoDataset) -> LogoDetector:
        """Refit the score calibration and the no-logo threshold on ``val`` (training-side images,
        never the ones it will be judged on) for the current settings: a loaded detector's stored
        calibration was fitted with the ``tiles``, ``refine`` and ``rescore`` it was trained with,
        and its scores and threshold drift when they change. With ``read_text`` it also fits the
        calibration of ``detect(ocr=True)`` (needs rapidocr). A box refiner or crop classifier the
        detector was trained without cannot be switched on here (``refine`` / ``rescore`` > 0)."""
        self._check_fitted()
        self._check_settings()
        where = getattr(self, "model_dir_", "this detector")
        if self.refine and self.refiner_ is None and getattr(self, "refiner_runner_", None) is None:
            raise ValueError(f"{where}: refine {self.refine} needs the box refiner, which the detector was trained without; "
                             "retrain it with 'logolens train --task detect --refine N'")
        if self.rescore and self.classifier_ is None:
            raise ValueError(f"{where}: rescore {self.rescore} needs the crop classifier, which the detector was trained without; "
                             "retrain it with 'logolens train --task detect --rescore N'")
        if self.read_text:
            from logolens.inference.ocr import check_ocr

            check_ocr()
        records = [r for r in val if r.boxes or not r.brands]
        if not any(r.boxes for r in records):
            raise ValueError(f"calibration data {val.name!r} has no logo boxes")
        unknown = sorted({b.brand for r in records for b in r.boxes} - set(self.brands_))
        if unknown:
            raise ValueError(f"calibration data {val.name!r} has brands the detector does not know: {unknown}")
        self.calibrate = True
        self._calibrate(records, self._grids(records, 1.0, (0.0, 0.0)))
        return self

    def _calibrate(self, records: Sequence[ImageRecord], grids: torch.Tensor) -> None:
        """Fit the calibrator and the no-logo threshold on validation images and logo-free pictures;
        with ``read_text``, also those of ``detect(ocr=True)``: the same candidates after the
        photo's text is read (:meth:`_read_photo`), with whether their brand is spelt in it."""
        visual, text = [], []  # per picture, see _calibration_entry

        def add(image: Image.Image, dets: Detections, record: ImageRecord | None) -> None:
            visual.append(_calibration_entry(dets.data["features"], dets, record))
            if self.read_text:
                read, in_photo = self._read_photo(image, dets)
                text.append(_calibration_entry(np.c_[read.data["features"], in_photo.astype(float)], read, record))

        with torch.no_grad():
            for record, grid in track(list(zip(records, grids)), "calibrating", enabled=self.progress):
                image = load_image(record.path)
                add(image, self._candidates(image, self._peaks(image, grid)), record)
            for _, picture in track(no_logo_images(records, seed=self.seed), "no-logo pictures", enabled=self.progress):
                add(picture, self._uncalibrated(picture), None)
        self.calibrator_ = _fit_calibrator(visual)
        if self.read_text:
            self.calibrator_["text"] = _fit_calibrator(text)

    def _read_photo(self, image: Image.Image, dets: Detections) -> tuple[Detections, np.ndarray]:
        """``dets`` (candidates in ``image``) with the photo's text read once
        (:func:`~logolens.inference.ocr.read_lines`): each box weighs the lines around it as
        :meth:`read_names` weighs a box's own reading, and ``(N,)`` says whether each box's brand
        is spelt anywhere in the photo (``unknown`` never is), the text calibrator's extra input."""
        from logolens.inference.ocr import lines_in, name_matches, read_lines

        lines = read_lines(image)
        dets = self.read_names(image, dets, [lines_in(lines, box) for box in dets.xyxy])
        names = sorted({str(b) for b in dets.brand} - {UNKNOWN})
        spelt = dict(zip(names, name_matches([(t, c) for t, c, _ in lines], names))) if names else {}
        return dets, np.array([bool(spelt.get(str(b), False)) for b in dets.brand], bool)

    # -- detection --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "brands_"):
            raise NotFittedError("this LogoDetector is not fitted yet; call fit() or LogoDetector.load(dir) first")

    @property
    def threshold_(self) -> float:
        """The calibrated no-logo threshold: the default minimum score of :meth:`detect`."""
        self._check_fitted()
        return float(self.calibrator_.get("threshold", 0.5))

    @property
    def text_threshold_(self) -> float | None:
        """The no-logo threshold of ``detect(ocr=True)`` (``None``: calibrated without reading text)."""
        self._check_fitted()
        text = self.calibrator_.get("text")
        return float(text["threshold"]) if text else None

    def _score(self, features: np.ndarray, named_in_photo: np.ndarray | None = None) -> np.ndarray:
        """Calibrated scores of candidates' ``features``; with ``named_in_photo`` (whether each one's
        brand is spelt in the photo), by the calibrator fitted with the photo's text read."""
        x = np.asarray(features, np.float64).reshape(-1, len(FEATURES))
        if named_in_photo is None:
            return _calibrated(self.calibrator_, x)
        return _calibrated(self.calibrator_["text"], np.c_[x, np.asarray(named_in_photo, np.float64).reshape(-1)])

    def _peaks(self, image: Image.Image, grid: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The head's heatmap peaks in one image as ``(boxes (N, 4) in its pixels, objectness (N,),
        brand probabilities (N, K))``: those of the whole view (from its patch ``grid`` when it is
        cached) and, with ``tiles`` > 1, the small ones of each tile that no inner edge of it cuts
        (:func:`~logolens.inference.tiles.tile_keeps`)."""
        views: list[tuple[Placement, tuple[float, float, float, float] | None]] = []
        canvases, outputs = [], []
        if grid is None:
            canvas, placement = letterbox(image, self.image_size)
            canvases.append(self.preprocessing_.to_tensor(canvas))
        else:
            placement = placement_for(image.width, image.height, self.image_size)
            with torch.no_grad():
                outputs.append(self.network.head(grid[None].float()))
        views.append((placement, None))
        for region in tile_regions(image.width, image.height, self.tiles) if self.tiles > 1 else []:
            canvases.append(self.preprocessing_(image, region))
            views.append((region_placement(region, self.image_size), region))
        if canvases:
            outputs.append(self._forward(torch.stack(canvases)))
        peaks = [p for output in outputs for p in decode_peaks(*output, max_peaks=self.max_detections)]
        boxes, heat, probs = [], [], []
        for (placement, region), (canvas_boxes, canvas_heat, canvas_probs) in zip(views, peaks):
            in_image = placement.to_image(canvas_boxes)
            keep = tile_keeps(in_image, region, image.width, image.height) if region is not None else slice(None)
            boxes.append(in_image[keep])
            heat.append(canvas_heat[keep])
            probs.append(canvas_probs[keep])
        return np.concatenate(boxes), np.concatenate(heat), np.concatenate(probs)

    def _candidates(self, image: Image.Image, peaks: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Detections:
        """Heatmap ``peaks`` of one image (:meth:`_peaks`) as detections in its pixels:
        near-duplicates (IoU > 0.7) merged, the best ``refine`` re-drawn by the box refiner, the
        best ``rescore`` re-scored by the crop classifier, sorted by objectness, each box also with its
        runner-up brands (``brands_per_box``), with the calibrator's inputs in ``data["features"]``
        (scores are still the raw objectness)."""
        boxes, heat, p_det = peaks
        raw = Detections(boxes, heat, np.zeros(len(boxes), np.int64), np.full(len(boxes), "", object), data={"probs": p_det})
        raw = raw.clipped(image.width, image.height).nms(0.7, class_aware=False)  # one candidate per logo
        xyxy, opinions = raw.xyxy.copy(), [raw.data["probs"].astype(np.float64)]
        refined_heat, refined = np.zeros(len(raw)), np.zeros(len(raw))
        has_refiner = self.refiner_ is not None or getattr(self, "refiner_runner_", None) is not None
        n = min(self.refine, len(raw)) if has_refiner else 0
        if n:
            preprocessing = get_entry(MODEL).preprocessing(box_refiner.SIZE)
            boxes_r, heat_r, probs_r = box_refiner.refine_boxes(
                lambda x: self._forward(x, refiner=True), preprocessing, image, xyxy[:n], self.refine_passes)
            xyxy[:n], refined_heat[:n], refined[:n] = boxes_r, heat_r, 1.0
            opinion = np.ones_like(opinions[0])
            opinion[:n] = np.where(np.isnan(probs_r), opinions[0][:n], probs_r)
            opinions.append(opinion)
        xyxy = clip_boxes(xyxy, image.width, image.height)
        rescored, foreground = np.zeros(len(raw)), np.ones(len(raw))
        n = min(self.rescore, len(raw)) if self.classifier_ is not None else 0
        valid = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        if n and valid[:n].any():
            chosen = np.where(valid[:n])[0]
            opinion = np.ones_like(opinions[0])
            crop_probs = self.classifier_.predict_proba([image] * len(chosen), [tuple(map(float, b)) for b in xyxy[chosen]])
            if self.classifier_.brands_[-1] == BACKGROUND:  # a classifier trained with hard negatives (older ones were not)
                foreground[chosen] = 1.0 - crop_probs[:, -1]
                crop_probs = crop_probs[:, :-1] / crop_probs[:, :-1].sum(axis=1, keepdims=True).clip(1e-12)
            opinion[chosen] = crop_probs
            opinions.append(opinion)
            rescored[chosen] = 1.0
        probs = np.exp(np.mean([np.log(np.clip(o, 1e-9, 1.0)) for o in opinions], axis=0))  # geometric mean of the opinions
        probs /= probs.sum(axis=1, keepdims=True).clip(1e-12) if len(probs) else 1.0
        names, sources, accepted = list(self.brands_), ["trained"] * len(self.brands_), np.ones(len(raw), bool)
        accepted_with_text = accepted.copy()  # the open set's decision when the box's text is read too (read_names)
        if getattr(self, "gallery_", None) is not None and rescored.any():
            chosen = np.where(rescored > 0)[0]
            recognition = combine(probs[chosen], self.brands_, self.gallery_, embed_crops([image] * len(chosen), xyxy[chosen], self.gallery_.views))
            names, sources = recognition.names, recognition.sources
            probs = np.concatenate([probs, np.zeros((len(probs), len(names) - len(self.brands_)))], axis=1)
            probs[chosen], accepted[chosen] = recognition.probabilities, recognition.accepted
            accepted_with_text[chosen] = recognition.accepted_before_reading
            # The classifier's BACKGROUND class learnt "not a logo" against the trained brands only: to it an enrolled
            # brand's logo looks like background. A box the gallery names an enrolled brand has passed the gallery's
            # open-set threshold instead, so the classifier's verdict is left out (foreground 1, a neutral feature).
            named_by_gallery = chosen[recognition.accepted & (recognition.probabilities.argmax(axis=1) >= len(self.brands_))]
            foreground[named_by_gallery] = 1.0
        best = probs.argmax(axis=1) if len(raw) else np.zeros(0, np.int64)
        top = probs.max(axis=1) if len(raw) else np.zeros(0)
        features = np.stack([_logit(raw.score), np.where(refined > 0, _logit(refined_heat), 0.0), np.log(np.clip(top, 1e-9, 1.0)),
                             refined, rescored, np.log(np.clip(foreground, 1e-6, 1.0)), log_box_share(xyxy, image.width, image.height)],
                            axis=1).reshape(-1, len(FEATURES))
        brand = np.array([names[i] if ok else UNKNOWN for i, ok in zip(best, accepted)], dtype=object)
        source = np.array([sources[i] if ok else "gallery" for i, ok in zip(best, accepted)], dtype=object)
        brand_id = np.where((best < len(self.brands_)) & accepted, best, -1)
        data = {"features": features.astype(np.float32), "visual_brand": np.array([names[i] for i in best], dtype=object),
                "accepted_with_text": accepted_with_text, "brand_probabilities": probs}  # the best brand by the pixels even where the open set said unknown
        dets = Detections(xyxy, raw.score, brand_id, brand, source, data=data)
        dets = dets[valid].nms(0.7, class_aware=False)  # refined boxes may now coincide
        return with_runner_up_brands(dets, names, sources, len(self.brands_), self.brands_per_box).sorted()  # a box's own brand first

    def _forward(self, x: torch.Tensor, refiner: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(heat, ltrb, logits)`` of canvases ``x`` from the detector (or the box refiner):
        onnxruntime when loaded with it, else PyTorch."""
        runner = getattr(self, "refiner_runner_" if refiner else "runner_", None)
        if runner is not None:
            return tuple(torch.from_numpy(o) for o in runner.outputs(x))
        with torch.no_grad():
            return (self.refiner_ if refiner else self.network)(x)

    def _uncalibrated(self, image: Image.Image) -> Detections:
        return self._candidates(image, self._peaks(image))

    def detect(self, image: Image.Image | str | Path, min_score: float | None = None, max_results: int | None = None,
               ocr: bool = False) -> Detections:
        """Logos in one image (a path or a PIL image), best first, boxes in its pixels.

        ``min_score`` defaults to the calibrated no-logo threshold, so an empty result means "no
        logo". ``ocr`` reads text, and weighs a box's as :meth:`read_names` does: where it spells
        a brand name, the box takes that brand; with enrolled brands, legible text that is not the
        box's brand (nor a misreading of its name) makes it ``unknown`` (``source`` "ocr" either
        way). A detector calibrated for it (``read_text``: ``logolens train --task detect --ocr``)
        reads the whole photo once, gives each box the lines around it, and scores every box knowing
        whether its brand's name is spelt anywhere in the photo, kept from the threshold calibrated for that
        (:attr:`text_threshold_`). Any other detector reads each kept box on its own and keeps its
        scores (and warns). Raises :class:`~logolens.errors.ImageError` for unusable image files.
        """
        self._check_fitted()
        if max_results is not None and max_results < 1:
            raise ValueError(f"max_results must be >= 1, got {max_results}")
        picture = load_image(image) if isinstance(image, (str, Path)) else image.convert("RGB")
        dets = self._uncalibrated(picture)
        threshold, named_in_photo = self.threshold_, None
        if ocr and self.text_threshold_ is not None:
            threshold = self.text_threshold_
            dets, named_in_photo = self._read_photo(picture, dets)
        elif ocr:
            warn_if_detector_not_calibrated_for_text(getattr(self, "model_dir_", "this detector"))
        dets = self.scored(dets, named_in_photo)
        dets = dets[dets.score >= (threshold if min_score is None else min_score)]
        dets = dets[: max_results] if max_results is not None else dets
        if ocr and named_in_photo is None:  # else the photo's text served
            dets = self.read_names(picture, dets).nms(self.nms_iou, class_aware=True)  # a box and its runner-up may now read alike
        return dets

    def scored(self, candidates: Detections, named_in_photo: np.ndarray | None = None) -> Detections:
        """A photo's ``candidates`` (as :meth:`detect` finds them, before scoring) with calibrated
        scores (see :meth:`_score` for ``named_in_photo``), merged by class-aware NMS, best first:
        :meth:`detect`'s answer before ``min_score`` and ``max_results``."""
        scores = self._score(candidates.data["features"], named_in_photo)
        return Detections(candidates.xyxy, scores, candidates.brand_id, candidates.brand, candidates.source,
                          candidates.data).nms(self.nms_iou, class_aware=True)

    def read_names(self, image: Image.Image, dets: Detections, texts: Sequence[list[tuple[str, float]]] | None = None) -> Detections:
        """``dets`` (of ``image``) with the text in each box read, as ``detect(ocr=True)`` does with
        the boxes it keeps, and weighed as ``classify --ocr`` does
        (:func:`~logolens.recognition.with_texts`, the box's brand as its visual answer): a box
        whose text spells a brand (trained or enrolled) takes that brand's name, and with enrolled
        brands (open set) a box whose text holds a word that is not its brand's name is ``unknown``
        (unless the box turned upside down or sideways reads like it, :func:`~logolens.recognition.read_turned`).
        Either way its ``source`` is "ocr"; its score (a logo is there) is unchanged. With a gallery
        calibrated for reading text (``logolens train --ocr``), the open set decides at that
        threshold: a box the pixels alone left ``unknown`` may be named after its best brand.
        ``texts``: each box's ``(text, confidence)`` lines when already read (default: read each box)."""
        from logolens.inference.ocr import text_in

        gallery = getattr(self, "gallery_", None)
        names = list(self.brands_) + (gallery.enrolled_brands if gallery is not None else [])
        column = {name: j for j, name in enumerate(names)}
        visual = np.zeros((len(dets), len(names)), np.float32)
        said = np.array([column.get(b, -1) for b in dets.data.get("visual_brand", dets.brand)], np.int64)
        visual[np.flatnonzero(said >= 0), said[said >= 0]] = 1.0
        accepted = (said >= 0) & np.asarray(dets.data.get("accepted_with_text", dets.brand != UNKNOWN), bool)
        sources = ["trained"] * len(self.brands_) + ["gallery"] * (len(names) - len(self.brands_))
        visual_answer = Recognition(names, sources, visual, accepted, np.ones(len(dets), np.float32))
        if texts is None:  # each box read once, however many brands it is listed under
            read_in: dict[tuple, list] = {}
            for box in dets.xyxy:
                if tuple(box) not in read_in:
                    read_in[tuple(box)] = text_in(image, box)
            texts = [read_in[tuple(box)] for box in dets.xyxy]
        if gallery is not None:  # the open set: a box its text rejects is read again turned (read_turned)
            texts = read_turned(visual_answer, texts, [image] * len(dets), list(dets.xyxy))
        result = with_texts(visual_answer, texts, open_set=gallery is not None)
        best = result.probabilities.argmax(axis=1)  # names are never empty, so this holds for no boxes too
        read = result.read[np.arange(len(dets)), best]
        by_text = result.rejected_by_text & accepted  # a box the gallery calls unknown anyway keeps its source
        brand = np.where(result.accepted, np.array(names, object)[best], UNKNOWN).astype(object)
        source = np.where(read | by_text, "ocr", np.where(result.accepted, np.array(sources, object)[best], "gallery")).astype(object)
        brand_id = np.where(result.accepted & (best < len(self.brands_)), best, -1)
        return Detections(dets.xyxy, dets.score, brand_id, brand, source, dets.data)

    def evaluate(self, dataset: LogoDataset, ocr: bool = False) -> dict:
        """Detection metrics on every image of ``dataset`` (all scores kept for mAP; image-level
        numbers at the no-logo threshold), see :func:`~logolens.evaluation.detection.detection_report`.
        ``ocr``: as ``detect(ocr=True)`` answers, at its threshold (the report's ``ocr`` says which);
        only for a detector calibrated for it (``read_text``): any other would read every candidate
        box of every image."""
        self._check_fitted()
        unknown = sorted(set(dataset.brands) - set(self.brands_))
        if unknown:
            raise ValueError(f"dataset {dataset.name!r} has brands the detector does not know: {unknown}")
        if ocr and self.text_threshold_ is None:
            where = getattr(self, "model_dir_", "this detector")
            raise ModelError(f"{where}: calibrated without reading the photo's text, so it cannot be evaluated with --ocr; "
                             f"'logolens calibrate --model {where} --ocr' calibrates it for that")
        records = list(dataset)
        predictions = [self.detect(r.path, min_score=0.0, ocr=ocr) for r in track(records, "detecting", enabled=self.progress)]
        return {**detection_report(records, predictions, self.brands_, self.text_threshold_ if ocr else self.threshold_), "ocr": ocr}

    @property
    def network(self) -> torch.nn.Module:
        """The PyTorch network (built on first use for a model loaded to run with onnxruntime)."""
        self._check_fitted()
        if getattr(self, "network_", None) is None:
            self.network_, _ = load_model(self.model_dir_)
        return self.network_

    def export_onnx(self, quantize: bool = False) -> Path:
        """Write ``model.onnx`` (backbone and head; outputs ``heat``, ``ltrb``, ``logits``) into
        the saved folder, and the exports of the box refiner and the crop classifier. Each float
        graph must match PyTorch or it is not kept; ``quantize`` then stores int8 versions
        (faster; measure them with ``evaluate``)."""
        directory = getattr(self, "model_dir_", None)
        if directory is None:
            raise NotFittedError("save the detector before exporting it to ONNX")
        path = _export_network(self.network, self.image_size, directory, quantize)
        if self.refiner_ is not None:
            _export_network(self.refiner_, box_refiner.SIZE, directory / REFINER_DIR, quantize)
        if self.classifier_ is not None:
            self.classifier_.export_onnx(quantize=quantize)
        self.runner_ = self.refiner_runner_ = None
        return path

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the model folder: the crop classifier in ``classifier/`` and the box refiner in
        ``refiner/`` first, then the head's weights and the manifest (last, atomically; see
        :mod:`logolens.models.storage`)."""
        self._check_fitted()
        directory = Path(directory)
        if self.classifier_ is not None:
            self.classifier_.save(directory / CLASSIFIER_DIR)
        if self.refiner_ is not None:
            save_model(directory / REFINER_DIR, self.refiner_, MODEL, {"task": "refine"}, keep_if_same_weights=("onnx",))
        manifest = {
            "task": "detect", "brands": list(self.brands_), "preprocessing": self.preprocessing_.to_json(),
            "settings": self.get_params(), "calibration": self.calibrator_,
            **({"training_phases": self.training_phases_} if getattr(self, "training_phases_", None) else {}), **(extra or {}),
        }
        save_model(directory, self.network, MODEL, manifest, keep_if_same_weights=("onnx",))
        self.model_dir_ = directory
        return directory

    @classmethod
    def load(cls, directory: str | Path, runtime: str = "auto") -> LogoDetector:
        """Load a detector folder. ``runtime``: ``torch``, ``onnx`` (needs ``model.onnx``), or
        ``auto`` (the faster of the two, see :func:`~logolens.inference.onnx_runtime.choose_runtime`),
        for the detector and its crop classifier alike."""
        check_runtime(runtime)  # before reading anything
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest.get("task") != "detect":
            raise ModelError(f"{directory}: a {manifest.get('task', 'classify')!r} model, not a logo detector; train one with 'logolens train --task detect'")
        try:
            # folders saved before these settings existed behave as they were made: final block, no tiles, one head, first brands only
            settings = {"feature_blocks": list(STORED_BLOCKS_DEFAULT), "tiles": 0, "heads": 1, "brands_per_box": 1, "feature_dims": 0, **manifest.get("settings", {})}
            detector = cls(**{k: v for k, v in settings.items() if k in _SETTINGS})
            detector.brands_ = list(manifest["brands"])
            detector.preprocessing_ = get_entry(MODEL).preprocessing(detector.image_size)
            detector.calibrator_ = _with_later_features(dict(manifest["calibration"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"{directory / MANIFEST}: incomplete or invalid manifest ({error!r})") from None
        detector.manifest_, detector.model_dir_ = manifest, directory
        detector.training_phases_ = dict(manifest.get("training_phases", {}))  # seconds, as recorded when it was trained
        detector.network_, detector.runner_ = _load_network(directory, manifest, runtime)
        detector.refiner_ = detector.refiner_runner_ = None
        refiner_dir = directory / REFINER_DIR
        if detector.refine or refiner_dir.is_dir():  # loaded when present, so 'logolens calibrate --refine N' can switch it back on
            try:
                refiner_manifest = read_manifest(refiner_dir)
            except ModelError:
                raise ModelError(f"{refiner_dir}: the box refiner is missing") from None
            detector.refiner_, detector.refiner_runner_ = _load_network(refiner_dir, refiner_manifest, runtime)
        classifier_dir = directory / CLASSIFIER_DIR
        detector.classifier_ = LogoClassifier.load(classifier_dir, runtime="torch" if runtime == "torch" else "auto") if classifier_dir.is_dir() else None
        if detector.rescore and detector.classifier_ is None:
            raise ModelError(f"{classifier_dir}: the crop classifier that re-scores boxes is missing")
        detector.gallery_ = active_gallery(open_gallery(directory, required=False), detector.brands_, directory)
        return detector


def _member_file(directory: Path, name: str, member: int) -> Path:
    """Checkpoint file of ensemble member ``member``: ``name`` itself for the first (as for a single head)."""
    return directory / (name if member == 0 else name.replace(".pt", f"-head{member}.pt"))


def _export_network(network: torch.nn.Module, size: int, directory: Path, quantize: bool, rtol: float = 1e-3) -> Path:
    """``directory/model.onnx`` of a detector network, checked against PyTorch on a random canvas
    (max difference <= ``rtol`` x the largest magnitude, per output), recorded in the manifest."""
    path = export_onnx(network, size, directory / ONNX_FILE, output_names=("heat", "ltrb", "logits"))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), precision.forced("float32"):  # the graph is float32: compare like with like
        reference = [o.numpy() for o in network(x)]
    for name, got, want in zip(("heat", "ltrb", "logits"), OnnxRunner(path).outputs(x), reference):
        difference = float(np.abs(got - want).max())
        if not difference <= rtol * max(1.0, float(np.abs(want).max())):
            path.unlink(missing_ok=True)
            raise ModelError(f"{path}: the ONNX export's {name} differs from PyTorch by {difference:.2e}; not kept")
    if quantize:
        quantize_onnx(path, path)
    update_manifest(directory, {"onnx": {"file": ONNX_FILE, "weights": weights_path(directory).name, "quantized": quantize}})
    return path


def _load_network(directory: Path, manifest: dict, runtime: str) -> tuple[torch.nn.Module | None, OnnxRunner | None]:
    """``(network, None)`` in PyTorch, or ``(None, runner)`` for an up-to-date ONNX export."""
    if choose_runtime(runtime, directory, export_is_current(directory, manifest)) == "onnx":
        return None, OnnxRunner(directory / ONNX_FILE)
    return load_model(directory)[0], None


def warn_if_detector_not_calibrated_for_text(where: str | Path) -> None:
    """``detect(ocr=True)`` with a detector calibrated without reading text: its boxes are scored
    as without ``ocr`` (only their names are read), and it says how to get the calibration."""
    warnings.warn(f"{where}: the detector's scores were calibrated without reading the photo's text, so --ocr only renames boxes; "
                  f"'logolens calibrate --model {where} --ocr' calibrates them for it", LogolensWarning, stacklevel=3)


def log_box_share(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """The calibrator's ``log_box_share``: log of a box's side (the square root of its area) as a
    share of the photo's longest side. Small boxes are where the detector names the wrong brand
    or frames only part of a logo (``benchmarks/detect_errors_flickr27.py``), so the same
    evidence means less on a small box; the calibrator learns by how much."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    area = np.clip((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1.0, None)
    return np.log(np.clip(np.sqrt(area) / max(width, height, 1), _SMALLEST_SHARE, None))


def with_runner_up_brands(dets: Detections, names: Sequence[str], sources: Sequence[str], n_trained: int, per_box: int) -> Detections:
    """``dets`` (one row per box, its brand distribution over ``names`` in ``data["brand_probabilities"]``,
    which is dropped) with, for every box named a brand (not ``unknown``), rows for its next ``per_box - 1``
    brands of probability >= :data:`RUNNER_UP_MIN_PROBABILITY`: the same box and evidence, that brand,
    and its probability as the calibrator's ``log_brand_probability``. ``data["brand_rank"]`` is 0 for a
    box's own brand, 1 for the next one, and so on.

    Why: only the first brand of a box was ever a detection, so a logo whose first brand was wrong
    was lost to mAP however likely its right brand was. As rows of their own, the runner-ups are
    scored by the same calibrator (a lower brand probability, a lower score) and rank below the
    box's first brand, so the image's answer, its first detection, does not change."""
    data = {k: v for k, v in dets.data.items() if k != "brand_probabilities"}
    probabilities = np.asarray(dets.data["brand_probabilities"], np.float64).reshape(len(dets), len(names))
    parts = [Detections(dets.xyxy, dets.score, dets.brand_id, dets.brand, dets.source, {**data, "brand_rank": np.zeros(len(dets), np.int64)})]
    if not len(dets):
        return parts[0]  # no boxes: keep the data keys (merging nothing would drop them)
    named = np.flatnonzero(dets.brand != UNKNOWN)
    order = np.argsort(-probabilities[named], axis=1, kind="stable")
    column = FEATURES.index("log_brand_probability")
    for rank in range(1, min(per_box, len(names))):
        brand = order[:, rank]
        probability = probabilities[named, brand]
        keep = probability >= RUNNER_UP_MIN_PROBABILITY
        rows, brand, probability = named[keep], brand[keep], probability[keep]
        names_of = np.array(names, dtype=object)[brand]
        runner_up = {k: v[rows] for k, v in data.items()}  # copies (rows is an index array)
        runner_up["features"][:, column] = np.log(np.clip(probability, 1e-9, 1.0))
        runner_up.update(visual_brand=names_of, brand_rank=np.full(len(rows), rank, np.int64))
        parts.append(Detections(dets.xyxy[rows], dets.score[rows], np.where(brand < n_trained, brand, -1), names_of,
                                np.array(sources, dtype=object)[brand], runner_up))
    return Detections.merge(parts)


def _with_later_features(calibrator: dict) -> dict:
    """A stored calibrator with a weight for every input in :data:`FEATURES`: one saved before the
    inputs added later has fewer weights, and those inputs weigh 0 in it, so its scores are
    unchanged (a text calibrator's last weight, the brand spelt in the photo, stays last)."""
    def padded(weights: list, extra: int, name: str) -> list:
        missing = len(FEATURES) + extra - len(weights)
        if not 0 <= missing <= _FEATURES_ADDED_LATER:
            raise ValueError(f"{len(weights)} {name} weights for {len(FEATURES) + extra} inputs")
        return [*weights[:len(weights) - extra], *[0.0] * missing, *weights[len(weights) - extra:]]

    calibrator["weights"] = padded(list(calibrator["weights"]), 0, "calibrator")
    if "text" in calibrator:
        calibrator["text"] = {**calibrator["text"], "weights": padded(list(calibrator["text"]["weights"]), 1, "text calibrator")}
    return calibrator


def _calibrated(model: dict, x: np.ndarray) -> np.ndarray:
    """P(correct detection) of candidates' calibrator inputs ``x`` (N, F) under a fitted ``model``."""
    z = np.asarray(x, np.float64) @ np.asarray(model["weights"], np.float64) + model["bias"]
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def _calibration_entry(features: np.ndarray, dets: Detections, record: ImageRecord | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One calibration picture for :func:`_fit_calibrator`: the candidates' calibrator inputs,
    which are a correct box, which name a brand the picture shows, and whether it shows a logo
    (``record`` ``None``: a logo-free picture)."""
    if record is None:
        return features, np.zeros(len(dets), bool), np.zeros(len(dets), bool), False
    hits = match_detections(record.box_xyxy, [b.brand for b in record.boxes], dets)
    return features, hits, np.array([b in record.brands for b in dets.brand], bool), bool(record.brands)


def _fit_calibrator(per_image: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]) -> dict:
    """A logistic model of "this candidate is a correct detection" and its no-logo threshold, from
    ``(calibrator inputs (N, F), correct box (N,), names a brand the image shows (N,), shows a logo)``
    per calibration picture. The threshold serves the image-level answer, the best candidate's
    brand (:func:`best_threshold`)."""
    x = np.concatenate([f for f, *_ in per_image])
    y = np.concatenate([c for _, c, *_ in per_image]).astype(float)
    weights, bias = fit_logistic(x, y)
    model = {"weights": weights.tolist(), "bias": bias, "fitted": True}
    positive, correct, negative = [], [], []
    for features, _, named, shows_logo in per_image:
        scores = _calibrated(model, features)
        best = int(scores.argmax()) if len(scores) else -1
        top = float(scores[best]) if best >= 0 else 0.0
        if shows_logo:
            positive.append(top)
            correct.append(bool(named[best]) if best >= 0 else False)
        else:
            negative.append(top)
    model.update(threshold=best_threshold(positive, correct, negative), candidates=int(len(y)), correct_candidates=int(y.sum()),
                 ece=binary_calibration_error(_calibrated(model, x), y), positive_images=len(positive), no_logo_pictures=len(negative))
    return model


def best_threshold(positive_scores: Sequence[float], positive_correct: Sequence[bool], negative_scores: Sequence[float]) -> float:
    """The minimum score that maximises balanced image-level accuracy: a logo image counts as
    right when its top detection clears the threshold *and* names a brand it shows; a no-logo
    picture counts as right when nothing clears it. Ties take the middle of the best range."""
    pos, hit = np.asarray(positive_scores, float), np.asarray(positive_correct, bool)
    neg = np.asarray(negative_scores, float)
    candidates = np.unique(np.concatenate([[0.0, 1.0], pos, neg, np.nextafter(pos, 2.0), np.nextafter(neg, 2.0)]))
    candidates = candidates[(candidates >= 0) & (candidates <= 1)]

    def accuracy(t: float) -> float:
        parts = []
        if len(pos):
            parts.append(float(np.mean(hit & (pos >= t))))
        if len(neg):
            parts.append(float(np.mean(neg < t)))
        return float(np.mean(parts)) if parts else 0.0

    values = np.array([accuracy(t) for t in candidates])
    best = candidates[values >= values.max() - 1e-12]
    return float((best.min() + best.max()) / 2) if len(best) else 0.5


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
