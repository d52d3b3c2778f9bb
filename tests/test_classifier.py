"""LogoClassifier: the estimator contract, learning on generated logos, top-k output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from logolens.classifier import FINETUNE_RECIPE, LogoClassifier, Prediction
from logolens.data.dataset import LogoDataset
from logolens.errors import NotFittedError

SYNTH_BRANDS = 4  # brands of the session's synthetic dataset (tests/conftest.py)


@pytest.fixture(scope="module")
def classifier(trained_model_dir) -> LogoClassifier:
    return LogoClassifier.load(trained_model_dir)


@pytest.fixture(scope="module")
def held_out(trained_model_dir, synthetic_dataset) -> LogoDataset:
    """The validation images recorded in split.json."""
    names = set(json.loads((trained_model_dir / "split.json").read_text())["val"])
    return synthetic_dataset.subset([i for i, r in enumerate(synthetic_dataset) if r.path.name in names], name="held-out")


def test_init_only_stores_settings():
    classifier = LogoClassifier(model="no-such-model", image_size=5, epochs=0)  # checked in fit, not here
    assert classifier.get_params()["model"] == "no-such-model"
    assert not hasattr(classifier, "network_")


def test_fine_tuning_has_its_own_recipe_and_explicit_settings_win():
    frozen = LogoClassifier("dinov2-s14").resolved_params()
    tuned = LogoClassifier("dinov2-s14", finetune_blocks=2).resolved_params()
    assert (frozen["epochs"], frozen["lr"]) == (200, 3e-3)
    assert {k: tuned[k] for k in FINETUNE_RECIPE} == FINETUNE_RECIPE
    assert LogoClassifier("dinov2-s14", finetune_blocks=2, epochs=3, lr=1e-4).resolved_params()["epochs"] == 3
    assert LogoClassifier("seed-cnn", finetune_blocks=2).resolved_params()["lr"] == 1e-4  # nothing to fine-tune


@pytest.mark.parametrize("call", [
    lambda c: c.predict_proba([Image.new("RGB", (40, 40))]),
    lambda c: c.classify([Image.new("RGB", (40, 40))]),
    lambda c: c.predict_proba_tensors(None),
    lambda c: c.evaluate(LogoDataset(())),
    lambda c: c.save("never-written"),
], ids=["predict_proba", "classify", "predict_proba_tensors", "evaluate", "save"])
def test_using_an_unfitted_classifier_raises(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFittedError, match="not fitted"):
        call(LogoClassifier())
    assert list(tmp_path.iterdir()) == []
    assert issubclass(NotFittedError, ValueError)


def test_fit_returns_self_and_sets_fitted_attributes(synthetic_dataset, train_settings):
    classifier = LogoClassifier(**{**train_settings, "epochs": 1})
    assert classifier.fit(synthetic_dataset) is classifier
    assert classifier.brands_ == list(synthetic_dataset.brands)
    assert classifier.n_train_samples_ == synthetic_dataset.n_boxes
    assert len(classifier.history_) == 1


def test_fit_needs_two_brands(synthetic_dataset):
    one_brand = LogoDataset(tuple(r for r in synthetic_dataset if r.brands == (synthetic_dataset.brands[0],)))
    assert len(one_brand) > 0
    with pytest.raises(ValueError, match=r"1 brand\(s\); at least 2"):
        LogoClassifier(epochs=1).fit(one_brand)


def test_fit_with_unknown_model_suggests_one(synthetic_dataset):
    with pytest.raises(ValueError, match="did you mean 'seed-cnn'"):
        LogoClassifier(model="seedcnn", epochs=1).fit(synthetic_dataset)


def test_session_data_has_the_expected_brands(synthetic_dataset):
    assert len(synthetic_dataset.brands) == SYNTH_BRANDS


def test_the_split_is_by_image(trained_model_dir, held_out, synthetic_dataset):
    split = json.loads((trained_model_dir / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    assert len(held_out) == len(split["val"]) >= SYNTH_BRANDS
    assert sorted(split["train"] + split["val"]) == sorted(r.path.name for r in synthetic_dataset)


def test_beats_chance_by_a_wide_margin_on_held_out_images(classifier, held_out):
    # Score every logo box of the held-out images, computing accuracy here rather than trusting
    # the library's metrics.
    images, boxes, truth = [], [], []
    for record in held_out:
        for box in record.boxes:
            images.append(record.path)
            boxes.append(box.xyxy)
            truth.append(classifier.brands_.index(box.brand))
    probabilities = classifier.predict_proba(images, boxes)
    assert probabilities.shape == (len(truth), SYNTH_BRANDS)
    accuracy = float((probabilities.argmax(1) == np.array(truth)).mean())
    chance = 1 / SYNTH_BRANDS
    assert len(truth) >= 10
    assert accuracy >= 3 * chance, f"top-1 {accuracy:.2f} on {len(truth)} held-out logos, chance {chance:.2f}"


def test_evaluate_agrees_with_predict_proba(classifier, held_out):
    report, probabilities = classifier.evaluate(held_out)
    assert report["n_samples"] == held_out.n_boxes == len(probabilities)
    truth = [classifier.brands_.index(b.brand) for r in held_out for b in r.boxes]
    assert report["top1_accuracy"] == pytest.approx(float((probabilities.argmax(1) == np.array(truth)).mean()))


def test_classify_returns_top_k_sorted(classifier, held_out):
    paths = [record.path for record in held_out][:4]
    for k in (1, 2, SYNTH_BRANDS, 10):
        results = classifier.classify(paths, top_k=k)
        assert len(results) == len(paths)
        for predictions in results:
            assert len(predictions) == min(k, SYNTH_BRANDS)
            scores = [p.score for p in predictions]
            assert scores == sorted(scores, reverse=True)
            assert all(0.0 <= s <= 1.0 for s in scores)
            assert sum(scores) <= 1.0 + 1e-6
            assert len({p.brand for p in predictions}) == len(predictions)
            assert {p.brand for p in predictions} <= set(classifier.brands_)
            if k >= SYNTH_BRANDS:
                assert sum(scores) == pytest.approx(1.0, abs=1e-5)


def test_classify_accepts_pil_images_and_paths_alike(classifier, held_out):
    path = held_out[0].path
    with Image.open(path) as image:
        from_image = classifier.classify([image.copy()], top_k=SYNTH_BRANDS)[0]
    from_path = classifier.classify([path], top_k=SYNTH_BRANDS)[0]
    assert from_image == from_path


def test_prediction_to_json():
    assert Prediction("Acme", 0.123456789).to_json() == {"brand": "Acme", "score": 0.123457, "source": "trained"}


def test_predict_proba_checks_boxes_match_images(classifier, held_out):
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        classifier.predict_proba([held_out[0].path, held_out[1].path], boxes=[None])
    assert classifier.predict_proba([]).shape == (0, SYNTH_BRANDS)


def test_load_restores_settings_and_preprocessing(classifier, trained_model_dir, train_settings):
    # the manifest keeps the settings with the model's recipe filled in, so a reload is explicit
    assert classifier.get_params() == LogoClassifier(**train_settings).resolved_params()
    assert classifier.preprocessing_.image_size == train_settings["image_size"]
    manifest = json.loads((trained_model_dir / "logolens.json").read_text())
    assert classifier.brands_ == manifest["brands"]


def test_load_refuses_a_manifest_without_brands(model_copy):
    import json as json_module

    from logolens.errors import ModelError

    manifest_path = model_copy / "logolens.json"
    manifest = json_module.loads(manifest_path.read_text())
    del manifest["brands"]
    manifest_path.write_text(json_module.dumps(manifest))
    with pytest.raises(ModelError, match="incomplete or invalid manifest"):
        LogoClassifier.load(model_copy)
