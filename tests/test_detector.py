"""``LogoDetector`` trained briefly on generated scenes (the session's ``trained_detector``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from logolens import box_refiner
from logolens.classifier import LogoClassifier
from logolens.data.images import load_image
from logolens.data.splits import split_dataset
from logolens.data.synthetic import render_background
from logolens.detections import box_iou
from logolens.detections import Detections
from logolens.detector import FEATURES, RUNNER_UP_MIN_PROBABILITY, TRAINING_PHASES, LogoDetector, best_threshold, log_box_share, with_runner_up_brands
from logolens.errors import ImageError, ModelError, NotFittedError
from logolens.models.detector import head_members
from logolens.training.hard_negatives import BACKGROUND
from conftest import VAL_FRACTION


def held_out(dataset):
    return list(split_dataset(dataset, VAL_FRACTION, 0.0, 0).val)


def test_finds_the_planted_logos_far_above_chance(trained_detector, synthetic_dataset):
    rng = np.random.default_rng(0)
    found = chance = total = 0
    for record in held_out(synthetic_dataset):
        gt = np.array([b.xyxy for b in record.boxes])
        dets = trained_detector.detect(record.path, min_score=0.0, max_results=5)
        found += int((box_iou(gt, dets.xyxy).max(axis=1) > 0.5).sum()) if len(dets) else 0
        w, h = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]  # chance: 5 random boxes of each logo's own size
        x, y = rng.uniform(0, record.width - w, (5, len(gt))), rng.uniform(0, record.height - h, (5, len(gt)))
        guesses = np.stack([x, y, x + w, y + h], axis=-1).reshape(-1, 4)
        chance += int((box_iou(gt, guesses).max(axis=1) > 0.5).sum())
        total += len(gt)
    assert found / total >= 0.5
    assert found >= 3 * max(chance, 1)


def test_says_no_logo_on_backgrounds_more_often_than_on_logo_scenes(trained_detector, synthetic_dataset):
    logo_hits = np.mean([len(trained_detector.detect(r.path)) > 0 for r in held_out(synthetic_dataset)])
    rng = np.random.default_rng(7)
    alarms = np.mean([len(trained_detector.detect(render_background(rng, (320, 240)))) > 0 for _ in range(12)])
    assert logo_hits >= 0.7 and alarms <= 0.5 and logo_hits - alarms >= 0.4


def test_crop_classifier_tells_planted_logos_from_the_heads_false_peaks(trained_detector, synthetic_dataset):
    """The re-scoring classifier learnt a background class from the head's own false peaks, so
    candidates on a planted logo are far more often called foreground than the others."""
    assert trained_detector.classifier_.brands_ == [*trained_detector.brands_, BACKGROUND]
    rng = np.random.default_rng(3)
    scenes = [(Image.open(r.path).convert("RGB"), r.box_xyxy) for r in held_out(synthetic_dataset)]
    scenes += [(render_background(rng, (320, 240)), np.zeros((0, 4))) for _ in range(4)]  # every candidate there is false
    on_logo, elsewhere = [], []
    for image, logos in scenes:
        candidates = trained_detector._uncalibrated(image)
        rescored = candidates.data["features"][:, FEATURES.index("rescored")] > 0
        foreground = np.exp(candidates.data["features"][rescored, FEATURES.index("log_foreground_probability")])
        hits = box_iou(candidates.xyxy[rescored], logos).max(axis=1, initial=0.0) > 0.5
        on_logo += foreground[hits].tolist()
        elsewhere += foreground[~hits].tolist()
    assert len(on_logo) >= 5 and len(elsewhere) >= 5
    assert np.mean(on_logo) >= 0.6 and np.mean(on_logo) - np.mean(elsewhere) >= 0.3


def test_boxes_are_in_original_pixels_whatever_the_image_size(trained_detector, synthetic_dataset):
    record = held_out(synthetic_dataset)[0]
    image = Image.open(record.path).convert("RGB")
    small = trained_detector.detect(image, min_score=0.0, max_results=5)
    big = trained_detector.detect(image.resize((image.width * 2, image.height * 2), Image.BILINEAR), min_score=0.0, max_results=1)
    nearest = 2 * small.xyxy[np.abs(2 * small.xyxy - big.xyxy[0]).max(axis=1).argmin()]  # the same logo may rank second there
    np.testing.assert_allclose(big.xyxy[0], nearest, atol=0.05 * image.width * 2)
    assert (big.xyxy[0, [0, 2]] <= image.width * 2).all() and (big.xyxy[0, [1, 3]] <= image.height * 2).all()


def test_tiles_find_logos_too_small_for_the_whole_view(trained_detector, synthetic_dataset):
    """Scenes pasted into photos four times their size: the whole view sees their logos at a
    quarter of the size the detector trained on; 4 x 4 tiles show them about as large as in training."""
    tiled = copy.copy(trained_detector)
    tiled.tiles = 4
    rng = np.random.default_rng(5)
    found, total = {0: 0, 4: 0}, 0
    for record in held_out(synthetic_dataset)[:8]:
        scene = Image.open(record.path).convert("RGB")
        photo = render_background(rng, (scene.width * 4, scene.height * 4))
        at = (int(rng.integers(0, 3 * scene.width)), int(rng.integers(0, 3 * scene.height)))
        photo.paste(scene, at)
        logos = record.box_xyxy + np.array([*at, *at], np.float32)
        for detector in (trained_detector, tiled):
            dets = detector.detect(photo, min_score=0.0, max_results=5)
            found[detector.tiles] += int((box_iou(logos, dets.xyxy).max(axis=1, initial=0.0) > 0.5).sum())
        total += len(logos)
    assert found[4] >= 0.5 * total and found[4] - found[0] >= 0.25 * total, (found, total)


def test_recalibrating_with_the_training_settings_gives_the_stored_calibration(trained_detector_dir, synthetic_dataset):
    detector = LogoDetector.load(trained_detector_dir, runtime="torch")
    stored = dict(detector.calibrator_)
    detector.recalibrate(split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).val)  # the images training calibrated on
    np.testing.assert_allclose(detector.calibrator_["weights"], stored["weights"], rtol=1e-5, atol=1e-6)
    assert detector.threshold_ == pytest.approx(stored["threshold"], abs=1e-5)
    with pytest.raises(ValueError, match="no logo boxes"):
        detector.recalibrate(synthetic_dataset.image_level())  # brands per image, no boxes


def test_scores_are_probabilities_sorted_and_filtered(trained_detector, synthetic_dataset):
    dets = trained_detector.detect(held_out(synthetic_dataset)[1].path, min_score=0.0)
    assert len(dets) >= 1 and ((dets.score >= 0) & (dets.score <= 1)).all()
    assert (np.diff(dets.score) <= 0).all()
    assert len(trained_detector.detect(held_out(synthetic_dataset)[1].path, min_score=0.0, max_results=1)) == 1
    default = trained_detector.detect(held_out(synthetic_dataset)[1].path)
    assert (default.score >= trained_detector.threshold_).all()
    assert set(dets.brand) <= set(trained_detector.brands_)


def test_model_folder_round_trip(trained_detector_dir, trained_detector, synthetic_dataset):
    manifest = json.loads((trained_detector_dir / "logolens.json").read_text())
    assert manifest["task"] == "detect" and manifest["calibration"]["fitted"]
    assert not (trained_detector_dir / "checkpoint.pt").exists()  # removed once training completed
    phases = manifest["training_phases"]  # where the training time went, seconds per part of fit
    assert set(phases) == set(TRAINING_PHASES)  # the manifest stores keys sorted; TRAINING_PHASES gives their order
    assert all(seconds >= 0 for seconds in phases.values()) and phases["detector heads"] > 0
    assert trained_detector.training_phases_ == phases
    for name in ("history.csv", "history.png", "val-metrics.json", "val-pr.png", "split.json", "classifier/logolens.json"):
        assert (trained_detector_dir / name).is_file(), name
    again = LogoDetector.load(trained_detector_dir)
    path = held_out(synthetic_dataset)[2].path
    a, b = trained_detector.detect(path, min_score=0.0), again.detect(path, min_score=0.0)
    np.testing.assert_allclose(a.xyxy, b.xyxy)
    np.testing.assert_allclose(a.score, b.score)


def test_clear_errors(trained_detector_dir, trained_model_dir, tmp_path):
    with pytest.raises(NotFittedError):
        LogoDetector().detect(Image.new("RGB", (64, 64)))
    with pytest.raises(ModelError, match="not a logo detector"):
        LogoDetector.load(trained_model_dir)
    with pytest.raises(ModelError, match="not a brand classifier"):
        LogoClassifier.load(trained_detector_dir)
    with pytest.raises(ValueError, match="train it with 'logolens train --task detect'"):
        LogoClassifier(model="dinov2-s14-detector").fit(None)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ImageError, match="corrupt.jpg"):
        LogoDetector.load(trained_detector_dir).detect(corrupt)


def test_fit_refuses_data_without_boxes(synthetic_dataset):
    from logolens.data.dataset import ImageRecord, LogoDataset

    no_boxes = LogoDataset([ImageRecord(r.path, r.width, r.height, (), r.brands) for r in synthetic_dataset], synthetic_dataset.brands, "no-boxes")
    with pytest.raises(ValueError, match="no logo boxes"):
        LogoDetector(rescore=0).fit(no_boxes)


def test_best_threshold_balances_logo_and_no_logo_images():
    # logo images: top scores .9 (right), .8 (right), .3 (wrong brand); no-logo pictures: .2, .4
    threshold = best_threshold([0.9, 0.8, 0.3], [True, True, False], [0.2, 0.4])
    assert 0.4 < threshold <= 0.8
    assert best_threshold([], [], [0.2]) > 0.2


def test_onnx_export_gives_the_same_detections(trained_detector_dir, synthetic_dataset, tmp_path):
    import shutil

    folder = Path(shutil.copytree(trained_detector_dir, tmp_path / "model"))
    torch_detector = LogoDetector.load(folder, runtime="torch")
    with pytest.raises(ModelError, match="no up-to-date model.onnx"):
        LogoDetector.load(folder, runtime="onnx")
    torch_detector.export_onnx()
    onnx_detector = LogoDetector.load(folder)
    assert onnx_detector.runner_ is not None and onnx_detector.classifier_.runner_ is not None
    path = held_out(synthetic_dataset)[0].path
    a, b = torch_detector.detect(path, min_score=0.0, max_results=3), onnx_detector.detect(path, min_score=0.0, max_results=3)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.5)
    np.testing.assert_allclose(a.score, b.score, atol=1e-3)
    assert a.brand.tolist() == b.brand.tolist()


def test_missing_parts_of_a_detector_folder_are_clear_errors(trained_detector_dir, tmp_path):
    import shutil

    folder = Path(shutil.copytree(trained_detector_dir, tmp_path / "model"))
    shutil.rmtree(folder / "refiner")
    with pytest.raises(ModelError, match="box refiner is missing"):
        LogoDetector.load(folder)
    shutil.rmtree(folder / "classifier")
    (folder / "refiner").mkdir()
    with pytest.raises(ModelError):
        LogoDetector.load(folder)


def test_settings_missing_from_an_older_folder_take_the_values_it_was_made_with(trained_detector_dir, tmp_path):
    """Folders written before the heads read two blocks and the refiner could look twice name
    neither setting; they keep the final block and one pass."""
    import shutil

    assert LogoDetector.load(trained_detector_dir).get_params()["feature_blocks"] == [10, 12]  # what new folders record
    folder = Path(shutil.copytree(trained_detector_dir, tmp_path / "model"))
    manifest = json.loads((folder / "logolens.json").read_text())
    del manifest["settings"]["refine_passes"], manifest["settings"]["feature_blocks"], manifest["settings"]["feature_dropout"]
    del manifest["settings"]["refine_views"], manifest["settings"]["brands_per_box"]
    manifest["calibration"]["weights"] = manifest["calibration"]["weights"][:-2]  # before the foreground and box-share inputs
    (folder / "logolens.json").write_text(json.dumps(manifest))
    old = LogoDetector.load(folder)
    assert old.refine_passes == 1 and list(old.feature_blocks) == [12] and old.feature_dropout == 0.0
    assert old.refine_views == box_refiner.TRAIN_VIEWS  # what every refiner trained on before the setting existed
    assert old.brands_per_box == 1 and LogoDetector.load(trained_detector_dir).brands_per_box == 3  # first brands only, as then
    assert old.calibrator_["weights"] == [*manifest["calibration"]["weights"], 0.0, 0.0]


@pytest.mark.parametrize("stored", [5, 6])
def test_calibrators_saved_before_later_inputs_score_as_they_did(trained_detector_dir, tmp_path, stored):
    """A calibrator with 5 or 6 weights (saved before the foreground or box-share input) loads
    with 0 for the missing ones, and a text calibrator keeps its last weight (the brand spelt in
    the photo) last; a calibrator with too many or too few weights is an invalid manifest."""
    import shutil

    folder = Path(shutil.copytree(trained_detector_dir, tmp_path / "model"))
    manifest = json.loads((folder / "logolens.json").read_text())
    visual = [0.5, -0.25, 1.5, 0.75, -1.0, 2.0][:stored]
    manifest["calibration"]["weights"] = visual
    manifest["calibration"]["text"] = {"weights": [*visual, 3.0], "bias": -1.0, "threshold": 0.4, "fitted": True}
    (folder / "logolens.json").write_text(json.dumps(manifest))
    loaded = LogoDetector.load(folder)
    padding = [0.0] * (len(FEATURES) - stored)
    assert loaded.calibrator_["weights"] == [*visual, *padding]
    assert loaded.calibrator_["text"]["weights"] == [*visual, *padding, 3.0]
    for weights in ([1.0] * (len(FEATURES) + 1), [1.0] * (len(FEATURES) - 3)):
        manifest["calibration"]["weights"] = weights
        (folder / "logolens.json").write_text(json.dumps(manifest))
        with pytest.raises(ModelError, match="calibrator weights"):
            LogoDetector.load(folder)


def test_box_share_input_is_the_box_side_over_the_photo_side(trained_detector, synthetic_dataset):
    """The calibrator's log_box_share is log(sqrt(box area) / photo's longest side) for every
    candidate, so a small box can be scored lower than a large one with the same evidence."""
    record = next(r for r in synthetic_dataset if r.boxes)
    image = load_image(record.path)
    candidates = trained_detector._uncalibrated(image)
    assert len(candidates)
    side = np.sqrt((candidates.xyxy[:, 2] - candidates.xyxy[:, 0]) * (candidates.xyxy[:, 3] - candidates.xyxy[:, 1]))
    share = candidates.data["features"][:, FEATURES.index("log_box_share")]
    np.testing.assert_allclose(share, np.log(side / max(image.size)), rtol=1e-5, atol=1e-5)
    tiny = [0, 0, 0.01, 0.01]  # counts as one pixel, 1/5000 of the photo's side, below the floor of 1e-3
    assert np.allclose(log_box_share(np.array([[0, 0, 250, 1000], tiny]), 5000, 100), np.log([500 / 5000, 1e-3]))


def test_runner_up_brands_are_rows_of_their_own_scored_from_their_own_probability():
    """Each named box is listed again under its next brands above the floor, with that brand's
    probability as the calibrator's brand input; an unknown box has no runner-ups; an enrolled
    runner-up is the gallery's (no trained class id)."""
    names, sources = ["Acme", "Bolt", "Cask", "Vexa"], ["trained"] * 3 + ["gallery"]
    probabilities = np.array([[0.6, 0.385, 0.01, 0.005], [0.5, 0.3, 0.1, 0.1], [0.1, 0.05, 0.0, 0.85]])
    column = FEATURES.index("log_brand_probability")
    features = np.zeros((3, len(FEATURES)), np.float32)
    features[:, column] = np.log(probabilities.max(axis=1))
    features[:, 0] = [1.0, 2.0, 3.0]  # the box's own evidence, the same for each of its rows
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 90, 30]], np.float32)
    dets = Detections(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, -1, -1]), np.array(["Acme", "unknown", "Vexa"], object),
                      np.array(["trained", "gallery", "gallery"], object),
                      {"features": features, "visual_brand": np.array(["Acme", "Acme", "Vexa"], object), "brand_probabilities": probabilities})
    listed = with_runner_up_brands(dets, names, sources, 3, per_box=3)
    assert "brand_probabilities" not in listed.data
    rows = {(int(b[0]), str(brand)): (int(rank), int(i), str(source), float(f[column]), float(f[0]))
            for b, brand, rank, i, source, f in zip(listed.xyxy, listed.brand, listed.data["brand_rank"], listed.brand_id, listed.source,
                                                    listed.data["features"])}
    assert set(rows) == {(0, "Acme"), (0, "Bolt"), (20, "unknown"), (50, "Vexa"), (50, "Acme"), (50, "Bolt")}  # Cask 0.01: under the floor
    assert 0.01 < RUNNER_UP_MIN_PROBABILITY < 0.05
    assert rows[(0, "Bolt")] == pytest.approx((1, 1, "trained", np.log(0.385), 1.0))
    assert rows[(50, "Bolt")] == pytest.approx((2, 1, "trained", np.log(0.05), 3.0))
    assert rows[(50, "Vexa")][:3] == (0, -1, "gallery")
    assert list(listed.data["visual_brand"][listed.data["brand_rank"] > 0]) == list(listed.brand[listed.data["brand_rank"] > 0])
    first_only = with_runner_up_brands(dets, names, sources, 3, per_box=1)
    assert list(first_only.brand) == list(dets.brand) and (first_only.data["brand_rank"] == 0).all()
    none = with_runner_up_brands(dets[np.zeros(3, bool)], names, sources, 3, per_box=3)  # a photo without candidates
    assert len(none) == 0 and set(none.data) == {"features", "visual_brand", "brand_rank"}


def test_runner_ups_leave_each_box_and_its_first_brand_as_they_were(trained_detector_dir, synthetic_dataset):
    """Listing runner-up brands adds rows; the boxes' first-brand rows keep their boxes, brands and scores."""
    detector = LogoDetector.load(trained_detector_dir, runtime="torch")
    path = held_out(synthetic_dataset)[0].path
    detector.brands_per_box = 1
    first = detector.detect(path, min_score=0.0)
    detector.brands_per_box = 3
    listed = detector.detect(path, min_score=0.0)
    own = listed[listed.data["brand_rank"] == 0]
    assert len(listed) > len(own) == len(first)
    np.testing.assert_allclose(own.xyxy, first.xyxy)
    np.testing.assert_allclose(own.score, first.score)
    assert list(own.brand) == list(first.brand)
    for row in np.flatnonzero(listed.data["brand_rank"] > 0):  # another brand of a box listed under its first brand
        same_box = np.all(own.xyxy == listed.xyxy[row], axis=1)
        assert same_box.any() and listed.brand[row] not in own.brand[same_box]


@pytest.mark.parametrize("setting", [{"refine_passes": 0}, {"refine_views": 0}, {"feature_blocks": (12, 10)}, {"tiles": -1}, {"feature_dropout": 1.0},
                                     {"brands_per_box": 0}, {"feature_dims": -1}, {"feature_dims": 769}])
def test_invalid_refinement_or_feature_settings_are_refused(synthetic_dataset, setting):
    with pytest.raises(ValueError):
        LogoDetector(**setting, epochs=1, cache_dir=False).fit(synthetic_dataset)


def test_box_refiner_learns_from_refine_views_crops_per_box(synthetic_dataset, monkeypatch):
    crops = []
    embed = box_refiner.region_grids
    monkeypatch.setattr(box_refiner, "region_grids", lambda network, samples, *rest: crops.append(len(samples)) or embed(network, samples, *rest))
    for views in (1, 3):
        LogoDetector(refine_views=views, heads=1, image_size=224, epochs=1, rescore=0, calibrate=False, cache_dir=False).fit(synthetic_dataset)
    boxes = sum(len(r.boxes) for r in synthetic_dataset)
    assert crops == [boxes, 3 * boxes]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


QUICK = dict(image_size=224, epochs=2, rescore=0, calibrate=False)  # seconds per fit on the generated scenes


def test_heads_are_trained_apart_and_averaged(synthetic_dataset, tmp_path):
    """The first head of an ensemble is the single head of the same seed, the others learn
    something else; the box refiner gets as many heads; the folder and the ONNX export keep them,
    and a folder from before --heads loads as one head."""
    split = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0)
    train, val = split.train, split.val
    settings = dict(QUICK, refine=1, cache_dir=tmp_path / "cache")
    single = LogoDetector(heads=1, **settings).fit(train, val)
    pair = LogoDetector(heads=2, **settings).fit(train, val)
    first, second = head_members(pair.network_.head)
    assert _same_weights(first, head_members(single.network_.head)[0]) and not _same_weights(second, first)
    refiners = head_members(pair.refiner_.head)  # drawn after the detector's heads, so not the single refiner's draw
    assert len(refiners) == 2 and not _same_weights(refiners[0], refiners[1])
    assert sorted({row["head"] for row in pair.history_}) == [0, 1] and "head" not in single.history_[0]
    pair.save(tmp_path / "pair")
    back = LogoDetector.load(tmp_path / "pair", runtime="torch")
    assert back.heads == 2 and back.get_params() == pair.get_params()
    image = list(val)[0].path
    assert np.array_equal(back.detect(image, min_score=0.0).xyxy, pair.detect(image, min_score=0.0).xyxy)
    pair.export_onnx()  # refused if the graph's outputs differ from PyTorch's
    assert LogoDetector.load(tmp_path / "pair", runtime="onnx").runner_ is not None
    single.save(tmp_path / "single")  # as a folder from before --heads and --feature-dims: the settings named nowhere
    manifest = json.loads((tmp_path / "single" / "logolens.json").read_text())
    del manifest["settings"]["heads"], manifest["model_config"]["heads"], manifest["settings"]["feature_dims"], manifest["model_config"]["feature_dims"]
    (tmp_path / "single" / "logolens.json").write_text(json.dumps(manifest))
    old = LogoDetector.load(tmp_path / "single", runtime="torch")
    assert old.heads == 1 and old.feature_dims == 0 and head_members(old.network_.head)[0].trunk[0].in_channels == 768
    assert np.array_equal(old.detect(image, min_score=0.0).xyxy, single.detect(image, min_score=0.0).xyxy)


def test_heads_read_the_principal_components_of_the_patch_features(synthetic_dataset, tmp_path):
    """``feature_dims``: the detector's and the box refiner's heads all read that many principal
    components, one projection for each, fitted on its own training grids; the folder keeps it."""
    split = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0)
    detector = LogoDetector(heads=2, feature_dims=24, **dict(QUICK, refine=1, cache_dir=tmp_path / "cache")).fit(split.train, split.val)
    for network in (detector.network_, detector.refiner_):
        assert [member.trunk[0].in_channels for member in head_members(network.head)] == [24, 24]
        assert network.head.projection.components.shape == (24, 768)
    assert not torch.allclose(detector.network_.head.projection.mean, detector.refiner_.head.projection.mean)  # canvases and crops apart
    detector.save(tmp_path / "model")
    back = LogoDetector.load(tmp_path / "model", runtime="torch")
    assert back.feature_dims == 24 and _same_weights(back.network_.head, detector.network_.head)
    image = list(split.val)[0].path
    assert np.array_equal(back.detect(image, min_score=0.0).xyxy, detector.detect(image, min_score=0.0).xyxy)
    detector.export_onnx()  # refused if the graph, projection included, says other than PyTorch


def test_an_interrupted_ensemble_resumes_to_the_same_heads(synthetic_dataset, tmp_path, monkeypatch):
    import logolens.detector as module

    split = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0)
    train, val = split.train, split.val
    settings = dict(QUICK, epochs=3, heads=2, refine=0, feature_dims=16, cache_dir=tmp_path / "cache")  # the projection refitted alike
    whole = LogoDetector(**settings).fit(train, val)
    real, calls = module.fit_detector_head, []

    def interrupted(head, *args, **kwargs):
        calls.append(kwargs["description"])
        if len(calls) == 2:  # the second head: stopped after its first epoch
            kwargs["on_epoch_end"] = lambda epoch: (_ for _ in ()).throw(KeyboardInterrupt)
        return real(head, *args, **kwargs)

    monkeypatch.setattr(module, "fit_detector_head", interrupted)
    with pytest.raises(KeyboardInterrupt):
        LogoDetector(**settings).fit(train, val, checkpoint_dir=tmp_path / "run")
    assert calls == ["training detector head 1/2", "training detector head 2/2"]
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"checkpoint.pt", "checkpoint-head1.pt"}
    monkeypatch.undo()
    resumed = LogoDetector(**settings).fit(train, val, checkpoint_dir=tmp_path / "run")
    assert _same_weights(resumed.network_.head, whole.network_.head)
    assert not list((tmp_path / "run").iterdir())  # checkpoints go once training is done
