"""`detect --ocr` with a detector calibrated for reading the photo's text (``read_text``): the
photo is read once, its lines name the boxes around them, and the scores know which brand names
the photo spells. A fake reader stands in for rapidocr: it spells the brand of every boxed logo
at the logo's place, so the calibration sees text that is evidence of a logo."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import logolens.inference.ocr as ocr
from conftest import VAL_FRACTION, fake_reader
from logolens.data.splits import split_dataset
from logolens.detections import Detections
from logolens.detector import FEATURES, LogoDetector
from logolens.errors import LogolensError, LogolensWarning


@pytest.fixture(scope="module")
def text_detector(trained_detector_dir, synthetic_dataset, tmp_path_factory):
    """A copy of the trained detector calibrated for the text as well (``logolens calibrate --ocr``:
    on the validation images it calibrated on), loaded, and its calibration before."""
    from logolens.training.run import calibrate_detector_dir

    folder = shutil.copytree(trained_detector_dir, tmp_path_factory.mktemp("text-detector") / "model")
    stored = dict(LogoDetector.load(folder).calibrator_)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
        calibrate_detector_dir(folder, read_text=True, reports=False)
    return LogoDetector.load(folder, runtime="torch"), stored


def test_text_calibration_adds_a_calibrator_and_leaves_the_visual_one(text_detector):
    detector, stored = text_detector
    text = detector.calibrator_["text"]
    assert len(text["weights"]) == len(FEATURES) + 1 and text["fitted"]
    assert text["weights"][-1] > 0  # a brand spelt in the photo makes its boxes likelier right
    assert detector.text_threshold_ == pytest.approx(text["threshold"]) and 0 < detector.text_threshold_ < 1
    np.testing.assert_allclose(detector.calibrator_["weights"], stored["weights"], rtol=1e-5, atol=1e-6)
    assert detector.threshold_ == pytest.approx(stored["threshold"], abs=1e-5)
    features = np.zeros((1, len(FEATURES)))
    assert detector._score(features, np.ones(1)) > detector._score(features, np.zeros(1))


def test_text_calibration_survives_the_model_folder(text_detector):
    detector, _ = text_detector
    manifest = json.loads((detector.model_dir_ / "logolens.json").read_text())
    assert manifest["settings"]["read_text"] is True
    again = LogoDetector.load(detector.model_dir_)
    assert again.read_text and again.text_threshold_ == detector.text_threshold_
    assert again.calibrator_["text"]["weights"] == detector.calibrator_["text"]["weights"]


def test_a_text_calibrator_of_the_wrong_size_is_refused(text_detector, tmp_path):
    from logolens.errors import ModelError

    detector, _ = text_detector
    folder = shutil.copytree(detector.model_dir_, tmp_path / "model")
    manifest = json.loads((folder / "logolens.json").read_text())
    manifest["calibration"]["text"]["weights"] = manifest["calibration"]["text"]["weights"][:-4]  # fewer than any older form
    (folder / "logolens.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="text calibrator"):
        LogoDetector.load(folder)


def test_detect_ocr_reads_the_photo_once_and_scores_with_it(text_detector, synthetic_dataset, monkeypatch):
    detector, _ = text_detector
    reader = fake_reader(synthetic_dataset)
    monkeypatch.setattr(ocr, "read_lines", reader)
    monkeypatch.setattr(ocr, "text_in", lambda image, box: pytest.fail("the photo's reading serves every box"))
    record = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).train[0]
    with_text = detector.detect(record.path, min_score=0.0, ocr=True)
    assert len(reader.calls) == 1
    # scored by the text calibrator, knowing which boxes' brand the photo spells
    spelt = np.isin(with_text.brand, list(record.brands))
    assert spelt.any()
    features = with_text.data["features"]
    np.testing.assert_allclose(with_text.score, detector._score(features, spelt), rtol=1e-6)
    default = detector.detect(record.path, ocr=True)
    assert (default.score >= detector.text_threshold_).all()


def test_a_line_names_the_box_around_it(text_detector, monkeypatch):
    detector, _ = text_detector
    first, second = detector.brands_[:2]
    boxes = Detections(np.array([[10.0, 10.0, 60.0, 40.0], [200.0, 150.0, 260.0, 190.0]]), np.array([0.7, 0.6]), np.array([0, 0]),
                       np.array([first, first], object), np.array(["trained", "trained"], object))
    # a line of the second brand inside the first box (centre within its 30 % context), nothing near the other
    monkeypatch.setattr(ocr, "read_lines", lambda image: [(second.upper(), 0.9, (58.0, 20.0, 72.0, 30.0))])
    read, spelt = detector._read_photo(Image.new("RGB", (300, 200)), boxes)
    assert list(read.brand) == [second, first] and list(read.source) == ["ocr", "trained"]
    assert list(spelt) == [True, False]  # the first box's brand is spelt in the photo, the second's is not


def test_lines_in_takes_the_lines_centred_in_the_box_with_context():
    lines = [("IN", 0.9, (20, 20, 30, 30)), ("EDGE", 0.9, (100, 10, 120, 20)), ("OUT", 0.9, (150, 10, 170, 20))]
    # box 0-100 wide: context 30 px each side; EDGE's centre (110) is inside it, OUT's (160) is not
    assert ocr.lines_in(lines, (0, 0, 100, 50)) == [("IN", 0.9), ("EDGE", 0.9)]
    assert ocr.lines_in([], (0, 0, 10, 10)) == []


def test_detect_ocr_without_text_calibration_warns_and_reads_the_boxes(trained_detector, synthetic_dataset, monkeypatch):
    detector = copy.copy(trained_detector)
    read = []
    monkeypatch.setattr(ocr, "text_in", lambda image, box: read.append(box) or [])
    monkeypatch.setattr(ocr, "read_lines", lambda image: pytest.fail("not calibrated for the photo's text: not read"))
    with pytest.warns(LogolensWarning, match="'logolens calibrate --model .* --ocr' calibrates them"):
        dets = detector.detect(split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).val[0].path, ocr=True)
    assert len(read) == len(dets)
    assert detector.text_threshold_ is None


def test_fitting_for_text_without_rapidocr_fails_before_training(synthetic_dataset, monkeypatch):
    def missing():
        raise LogolensError("text reading (--ocr) needs rapidocr")

    monkeypatch.setattr(ocr, "check_ocr", missing)
    detector = LogoDetector(image_size=224, epochs=1, read_text=True)
    monkeypatch.setattr(detector, "_grid_set", lambda *a: pytest.fail("training started"))
    with pytest.raises(LogolensError, match="rapidocr"):
        detector.fit(synthetic_dataset)


def test_training_reports_a_text_detector_with_and_without_the_text(text_detector, trained_detector, synthetic_dataset,
                                                                    monkeypatch, tmp_path):
    from logolens.training.run import write_detection_reports

    detector, _ = text_detector
    monkeypatch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
    split = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0)
    reports = write_detection_reports(detector, split, tmp_path / "text")
    assert sorted(reports) == ["val", "val-ocr"]
    assert reports["val-ocr"]["score_threshold"] == pytest.approx(detector.text_threshold_)
    assert reports["val"]["score_threshold"] == pytest.approx(detector.threshold_)
    assert reports["val-ocr"]["ocr"] is True and reports["val"]["ocr"] is False
    saved = json.loads((tmp_path / "text" / "val-ocr-metrics.json").read_text())
    assert saved["map50"] == pytest.approx(reports["val-ocr"]["map50"])
    assert (tmp_path / "text" / "val-ocr-pr.png").read_bytes()[:4] == b"\x89PNG"
    # a detector calibrated without the text is reported as before, and nothing is read
    monkeypatch.setattr(ocr, "read_lines", lambda image: pytest.fail("read a photo"))
    assert sorted(write_detection_reports(trained_detector, split, tmp_path / "visual")) == ["val"]
    assert not list((tmp_path / "visual").glob("*-ocr-*"))


def test_train_detect_ocr_calibrates_the_detector_for_text(text_detector, synthetic_dataset, synthetic_dataset_dir, tmp_path,
                                                           monkeypatch, capsys):
    import logolens.training.run as run
    from logolens.cli.main import main

    seen = {}
    held = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).val
    monkeypatch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
    reports = {"val": text_detector[0].evaluate(held), "val-ocr": text_detector[0].evaluate(held, ocr=True)}

    def fake_train(dataset, out, detector, *args, **kwargs):
        seen["read_text"], seen["gallery_ocr"] = detector.read_text, kwargs.get("gallery_ocr")
        return {"train_images": 30, "brands": 4, "epochs": 3, "threshold": 0.25, "calibration": {"text": {"threshold": 0.125}},
                "model_dir": str(out), "val_images": len(held), "training_phases": {"patch grids": 1.2, "detector heads": 2.0}, **reports}

    monkeypatch.setattr(ocr, "check_ocr", lambda: None)
    monkeypatch.setattr(run, "train_detector_and_report", fake_train)
    assert main(["train", "--task", "detect", "--data", str(synthetic_dataset_dir), "--out", str(tmp_path / "m"), "--ocr"]) == 0
    assert seen == {"read_text": True, "gallery_ocr": True}
    out = capsys.readouterr().out
    assert "no-logo threshold 0.250 (0.125 with --ocr)" in out
    assert "training took 3 s: patch grids 1 s, detector heads 2 s" in out
    assert f"val ({len(held)} images): " in out
    assert f"val ({len(held)} images, the photos' text read (--ocr)): " in out


def test_evaluate_ocr_scores_detect_ocr_at_its_threshold(text_detector, synthetic_dataset, monkeypatch):
    detector, _ = text_detector
    monkeypatch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
    held = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).val
    with_text, visual = detector.evaluate(held, ocr=True), detector.evaluate(held)
    assert with_text["score_threshold"] == pytest.approx(detector.text_threshold_)
    assert visual["score_threshold"] == pytest.approx(detector.threshold_)
    assert 0.0 <= with_text["map50"] <= 1.0


def test_evaluate_ocr_needs_a_detector_calibrated_for_text(trained_detector, synthetic_dataset):
    from logolens.errors import ModelError

    with pytest.raises(ModelError, match="'logolens calibrate --model .* --ocr' calibrates it"):
        trained_detector.evaluate(split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0).val, ocr=True)


def test_evaluate_ocr_cli_writes_its_own_report_and_refuses_classifiers(text_detector, trained_model_dir, synthetic_dataset,
                                                                        monkeypatch, tmp_path, capsys):
    from logolens.cli.main import main

    detector, _ = text_detector
    monkeypatch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
    # the calibrated copy keeps the training record: its validation images are scored
    assert main(["evaluate", "--model", str(detector.model_dir_), "--out", str(tmp_path), "--ocr", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "the photos' text read (--ocr)" in out
    assert [p.name for p in tmp_path.glob("*-ocr-metrics.json")] == ["val-ocr-metrics.json"]
    assert main(["evaluate", "--model", str(trained_model_dir), "--ocr"]) == 2
    assert "--ocr evaluates detectors" in capsys.readouterr().err
