"""``logolens detect`` / ``train --task detect`` / ``evaluate --task detect``: the output contract
and one clear error line per bad input, without stopping the batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from logolens.cli.main import main
from logolens.data.flickr27 import IMAGES_DIR
from conftest import png_declaring


def scene_paths(dataset_dir, n=2):
    return sorted(str(p) for p in (dataset_dir / IMAGES_DIR).glob("*.jpg"))[:n]


def test_json_lines_contract(trained_detector_dir, synthetic_dataset_dir, capsys):
    paths = scene_paths(synthetic_dataset_dir)
    assert main(["detect", "--model", str(trained_detector_dir), "--min-score", "0", "--max-results", "3", *paths]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == paths
    for line, path in zip(lines, paths):
        width, height = Image.open(path).size
        assert (line["width"], line["height"]) == (width, height)
        assert 1 <= len(line["logos"]) <= 3
        scores = [logo["score"] for logo in line["logos"]]
        assert scores == sorted(scores, reverse=True)
        for logo in line["logos"]:
            assert set(logo) == {"brand", "score", "box", "source"} and logo["source"] == "trained"
            x1, y1, x2, y2 = logo["box"]
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


def test_default_min_score_is_the_calibrated_threshold(trained_detector_dir, trained_detector, synthetic_dataset_dir, capsys):
    main(["detect", "--model", str(trained_detector_dir), *scene_paths(synthetic_dataset_dir, 4)])
    for line in capsys.readouterr().out.splitlines():
        assert all(logo["score"] >= trained_detector.threshold_ for logo in json.loads(line)["logos"])


def test_vision_format_and_annotated_copies(trained_detector_dir, synthetic_dataset_dir, tmp_path, capsys):
    paths = scene_paths(synthetic_dataset_dir)
    annotated = tmp_path / "annotated"
    assert main(["detect", "--model", str(trained_detector_dir), "--format", "vision", "--min-score", "0",
                 "--max-results", "2", "--annotate", str(annotated), *paths]) == 0
    for line, path in zip(capsys.readouterr().out.splitlines(), paths):
        response = json.loads(line)
        assert response["context"] == {"uri": path}
        for annotation in response["logoAnnotations"]:
            assert set(annotation) == {"mid", "description", "score", "boundingPoly"}
            vertices = annotation["boundingPoly"]["vertices"]
            assert len(vertices) == 4 and all(isinstance(v["x"], int) and isinstance(v["y"], int) for v in vertices)
    for path in paths:
        copy = annotated / Image.open(path).filename.rsplit("/", 1)[-1]
        assert copy.is_file() and Image.open(copy).size == Image.open(path).size
        assert (np.asarray(Image.open(copy).convert("RGB")) != np.asarray(Image.open(path).convert("RGB"))).any()  # boxes drawn


def test_annotated_copies_never_collide_or_overwrite_the_photos(trained_detector_dir, synthetic_dataset_dir, tmp_path, capsys):
    first, second = scene_paths(synthetic_dataset_dir, 2)
    photos, other = tmp_path / "photos", tmp_path / "other"
    photos.mkdir(), other.mkdir()
    (photos / "shop.jpg").write_bytes(open(first, "rb").read())
    (other / "shop.jpg").write_bytes(open(second, "rb").read())
    originals = {p: p.read_bytes() for p in (photos / "shop.jpg", other / "shop.jpg")}
    # annotating into the photos' own folder, two inputs of the same name
    assert main(["detect", "--model", str(trained_detector_dir), "--min-score", "0", "--annotate", str(photos),
                 str(photos), str(other / "shop.jpg")]) == 0
    assert all(path.read_bytes() == data for path, data in originals.items())
    assert sorted(p.name for p in photos.iterdir()) == ["shop-2.jpg", "shop-3.jpg", "shop.jpg"]
    pixels = lambda path: np.asarray(Image.open(path).convert("RGB"), np.float32)  # noqa: E731
    for copy, own, other_source in ((photos / "shop-2.jpg", first, second), (photos / "shop-3.jpg", second, first)):
        assert np.abs(pixels(copy) - pixels(own)).mean() < np.abs(pixels(copy) - pixels(other_source)).mean()
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_bad_inputs_are_reported_one_line_each_and_the_batch_goes_on(trained_detector_dir, synthetic_dataset_dir, tmp_path, capsys):
    good = scene_paths(synthetic_dataset_dir, 1)[0]
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "bomb.png").write_bytes(png_declaring(20_000, 20_000))
    (tmp_path / "empty").mkdir()
    inputs = [str(tmp_path / "corrupt.jpg"), good, str(tmp_path / "notes.png"), str(tmp_path / "bomb.png"),
              str(tmp_path / "empty"), str(tmp_path / "missing.jpg")]
    assert main(["detect", "--model", str(trained_detector_dir), *inputs]) == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["image"] for line in captured.out.splitlines()] == [good]
    errors = captured.err.splitlines()
    assert len(errors) == 5 and all(line.startswith("logolens: error: ") for line in errors)
    for name in ("corrupt.jpg", "notes.png", "bomb.png", "empty", "missing.jpg"):
        assert any(name in line for line in errors), name
    assert "Traceback" not in captured.err


def test_a_folder_is_expanded_to_its_images(trained_detector_dir, synthetic_dataset_dir, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in scene_paths(synthetic_dataset_dir, 2):
        Image.open(path).save(folder / (path.rsplit("/", 1)[-1].replace(".jpg", ".png")))
    assert main(["detect", "--model", str(trained_detector_dir), str(folder)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_expanding_expanded_inputs_changes_nothing(synthetic_dataset_dir, tmp_path):
    """``detect --annotate`` expands its inputs once and hands the list on: errors pass through."""
    from logolens.errors import DataError
    from logolens.inference.batch import expand_inputs

    (tmp_path / "empty").mkdir()
    once = list(expand_inputs([synthetic_dataset_dir / IMAGES_DIR, tmp_path / "missing.jpg", tmp_path / "empty"]))
    assert sum(isinstance(item, DataError) for item in once) == 2 and len(once) > 2
    assert list(expand_inputs(once)) == once


@pytest.mark.parametrize("argv, message", [
    (["--max-results", "0"], "--max-results must be >= 1"),
    (["--min-score", "1.5"], "--min-score must be in [0, 1]"),
])
def test_bad_options(trained_detector_dir, synthetic_dataset_dir, capsys, argv, message):
    assert main(["detect", "--model", str(trained_detector_dir), *argv, *scene_paths(synthetic_dataset_dir, 1)]) == 2
    assert message in capsys.readouterr().err


def test_detect_refuses_a_classifier_folder(trained_model_dir, synthetic_dataset_dir, capsys):
    assert main(["detect", "--model", str(trained_model_dir), *scene_paths(synthetic_dataset_dir, 1)]) == 2
    assert "not a logo detector" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--model", "seed-cnn"], "choose its crop classifier with --classifier"),
    (["--head", "mlp"], "--head does not apply to --task detect"),
    (["--tiles", "-1"], "tiles, refine and rescore must be >= 0"),  # the option reaches the detector
    (["--feature-dropout", "1.5"], "feature_dropout must be in [0, 1), got 1.5"),
    (["--heads", "0"], "a detector needs at least one head, got heads=0"),
    (["--feature-dims", "-1"], "feature_dims must be >= 0 (0: all features), got -1"),
    (["--train-scales", "1.0", "1.5"], "train_scales must be fractions in (0, 1], got [1.0, 1.5]"),
    (["--refine-views", "0"], "refine_passes, refine_views, brands_per_box and max_detections >= 1"),
    (["--brands-per-box", "0"], "refine_passes, refine_views, brands_per_box and max_detections >= 1"),
])
def test_train_detect_refuses_classifier_options(synthetic_dataset_dir, tmp_path, capsys, extra, message):
    code = main(["train", "--task", "detect", "--data", str(synthetic_dataset_dir), "--out", str(tmp_path / "m"), *extra])
    assert code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--refine-passes", "--tiles", "--feature-dropout", "--feature-dims", "--heads", "--train-scales", "--refine-views", "--brands-per-box"])
def test_train_classify_refuses_detector_options(synthetic_dataset_dir, tmp_path, capsys, option):
    code = main(["train", "--data", str(synthetic_dataset_dir), "--out", str(tmp_path / "m"), option, "3"])
    assert code == 2 and f"{option} does not apply to --task classify" in capsys.readouterr().err


def test_evaluate_detector(trained_detector_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(trained_detector_dir), "--task", "detect", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5" in out and "image level" in out
    report = json.loads((tmp_path / "val-metrics.json").read_text())
    assert 0.0 <= report["map50"] <= 1.0 and report["part"] == "val"
    assert (tmp_path / "val-pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["evaluate", "--model", str(trained_detector_dir), "--task", "classify"]) == 2
