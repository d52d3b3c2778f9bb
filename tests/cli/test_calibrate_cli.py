"""``logolens calibrate``: refit a saved detector's scores and no-logo threshold for other inference
settings (or ``--ocr``, see test_detector_text.py) on its own validation images, keeping its weights,
and refuse what it cannot do without touching the folder."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

import logolens.inference.ocr as ocr
from conftest import fake_reader
from logolens.cli.main import main
from logolens.detector import REFINER_DIR, LogoDetector


def _digests(folder) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest and the reports calibration rewrites."""
    rewritten = {"logolens.json", "val-metrics.json", "val-pr.png", "val-ocr-metrics.json", "val-ocr-pr.png"}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and str(p.relative_to(folder)) not in rewritten}


@pytest.fixture
def detector_copy(trained_detector_dir, tmp_path):
    return shutil.copytree(trained_detector_dir, tmp_path / "detector")


def test_calibrate_switches_settings_adds_the_text_keeps_the_weights_and_rewrites_the_reports(detector_copy, synthetic_dataset,
                                                                                               monkeypatch, capsys):
    monkeypatch.setattr(ocr, "read_lines", fake_reader(synthetic_dataset))
    monkeypatch.setattr(ocr, "check_ocr", lambda: None)
    before = LogoDetector.load(detector_copy)
    files = _digests(detector_copy)
    assert before.text_threshold_ is None
    assert main(["calibrate", "--model", str(detector_copy), "--refine", "0", "--rescore", "1", "--brands-per-box", "2", "--ocr", "--no-progress"]) == 0
    out = capsys.readouterr().out
    after = LogoDetector.load(detector_copy)
    assert (after.refine, after.rescore, after.tiles, after.refine_passes, after.read_text) == (0, 1, before.tiles, before.refine_passes, True)
    assert (before.brands_per_box, after.brands_per_box) == (3, 2)
    assert f"refine 0, refine-passes {before.refine_passes}, rescore 1, brands-per-box 2" in out
    assert f"no-logo threshold {after.threshold_:.3f} ({after.text_threshold_:.3f} with --ocr)" in out
    assert after.calibrator_["weights"] != before.calibrator_["weights"]  # other candidates, other scores
    assert after.refiner_ is not None  # still there, so a later 'calibrate --refine N' can switch it back on
    assert _digests(detector_copy) == files  # weights, refiner, classifier, gallery, split: untouched
    for stem, threshold in (("val", after.threshold_), ("val-ocr", after.text_threshold_)):
        report = json.loads((detector_copy / f"{stem}-metrics.json").read_text())
        assert report["score_threshold"] == pytest.approx(threshold)
    assert "val (12 images): " in out and "val (12 images, the photos' text read (--ocr)): " in out


def test_calibrate_refuses_what_it_cannot_do_and_leaves_the_folder_as_it_was(detector_copy, trained_model_dir, tmp_path, capsys):
    shutil.rmtree(detector_copy / REFINER_DIR)  # as if trained with --refine 0
    manifest = json.loads((detector_copy / "logolens.json").read_text())
    manifest["settings"]["refine"] = 0
    (detector_copy / "logolens.json").write_text(json.dumps(manifest))
    unrecorded, unsplit = (shutil.copytree(detector_copy, tmp_path / name) for name in ("unrecorded", "unsplit"))
    (unrecorded / "logolens.json").write_text(json.dumps({**manifest, "data": {}}))
    (unsplit / "logolens.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "split"}))  # saved by the API
    saved = (detector_copy / "logolens.json").read_bytes()
    cases = [
        (["--model", str(detector_copy), "--refine", "2"], "needs the box refiner, which the detector was trained without"),
        (["--model", str(detector_copy), "--tiles", "-1"], "tiles, refine and rescore must be >= 0"),
        (["--model", str(detector_copy), "--brands-per-box", "0"], "brands_per_box and max_detections >= 1"),
        (["--model", str(unrecorded)], "records no training data; pass --data"),
        (["--model", str(unsplit)], "records no training split"),
        (["--model", str(trained_model_dir)], "calibrate refits detectors"),
        (["--model", str(tmp_path / "missing")], "no such model folder"),
    ]
    for arguments, message in cases:
        assert main(["calibrate", *arguments, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("logolens: error: ") and message in err and len(err.splitlines()) == 1
    assert (detector_copy / "logolens.json").read_bytes() == saved
