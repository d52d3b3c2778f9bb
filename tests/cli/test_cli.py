"""The ``logolens`` command, run in-process through ``main([...])`` (plus one real ``--help``)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from logolens.cli.main import main
from logolens.models.storage import weights_path
from logolens.data.flickr27 import IMAGES_DIR

HISTORY_HEADER = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
CLI_EPOCHS = 3


def run_quietly(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured (for module-scoped fixtures, where capsys is not available)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("logolens: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def cli_trained(tmp_path_factory, synthetic_dataset_dir) -> tuple[Path, str]:
    """A model folder written by ``logolens train`` and what it printed."""
    out = tmp_path_factory.mktemp("cli") / "model"
    code, stdout, stderr = run_quietly([
        "train", "--data", str(synthetic_dataset_dir), "--out", str(out), "--model", "seed-cnn", "--epochs", str(CLI_EPOCHS),
        "--lr", "1e-3", "--batch-size", "16", "--val-fraction", "0.25", "--no-progress",
    ])
    assert code == 0, stderr
    return out, stdout


# ------------------------------------------------------------------ help


def test_help_runs_as_a_module_and_is_light():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "logolens", "--help"],
                            capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: logolens")
    for command in ("train", "evaluate", "classify", "data", "models", "demo"):
        assert command in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "logolens.cli.main" in imported  # importtime output was read
    heavy = sorted(name for name in imported if name.split(".")[0] in ("torch", "matplotlib", "rich"))
    assert heavy == [], "logolens --help imports heavy modules"
    assert elapsed < 10


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == "logolens 0.1.0"


def test_misspelt_option_is_an_argparse_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--epohcs", "3"])
    assert exit_info.value.code == 2
    assert "logolens: error: unrecognized arguments: --epohcs 3" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_misspelt_subcommand_option_gets_a_suggestion(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--epohcs", "3"])
    assert "did you mean --epochs?" in capsys.readouterr().err


def test_misspelt_top_level_option_gets_a_suggestion(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--versoin"])
    assert exit_info.value.code == 2
    assert "did you mean --version?" in capsys.readouterr().err


# ------------------------------------------------------------------ classify


@pytest.fixture
def images_here(synthetic_dataset_dir, monkeypatch) -> list[str]:
    """Three dataset images as paths relative to the working directory."""
    monkeypatch.chdir(synthetic_dataset_dir)
    return [f"{IMAGES_DIR}/{i:05d}.jpg" for i in range(3)]


def parse_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_classify_prints_one_json_line_per_image(trained_model_dir, images_here, capsys, synthetic_dataset):
    code = main(["classify", "--model", str(trained_model_dir), *images_here])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    lines = parse_lines(captured.out)
    assert [line["image"] for line in lines] == images_here  # the path as given, not resolved
    n_brands = len(synthetic_dataset.brands)
    for line in lines:
        assert set(line) == {"image", "predictions"}
        predictions = line["predictions"]
        assert len(predictions) == min(5, n_brands)
        for prediction in predictions:
            assert set(prediction) == {"brand", "score", "source"} and prediction["source"] == "trained"
            assert isinstance(prediction["brand"], str) and isinstance(prediction["score"], float)
            assert 0.0 <= prediction["score"] <= 1.0
        scores = [p["score"] for p in predictions]
        assert scores == sorted(scores, reverse=True)
        assert {p["brand"] for p in predictions} == set(synthetic_dataset.brands)


def test_classify_agrees_with_the_library(trained_model_dir, images_here, capsys):
    from logolens.classifier import LogoClassifier

    main(["classify", "--model", str(trained_model_dir), "--top-k", "2", images_here[0]])
    [line] = parse_lines(capsys.readouterr().out)
    expected = LogoClassifier.load(trained_model_dir).classify([images_here[0]], top_k=2)[0]
    assert line["predictions"] == [p.to_json() for p in expected]


def test_classify_top_k(trained_model_dir, images_here, capsys):
    assert main(["classify", "--model", str(trained_model_dir), "--top-k", "2", *images_here]) == 0
    lines = parse_lines(capsys.readouterr().out)
    assert len(lines) == 3 and all(len(line["predictions"]) == 2 for line in lines)


def test_classify_top_k_must_be_positive(trained_model_dir, images_here, capsys):
    assert main(["classify", "--model", str(trained_model_dir), "--top-k", "0", images_here[0]]) == 2
    assert "--top-k must be >= 1" in one_error_line(capsys.readouterr().err)


def test_classify_with_a_bad_precision_setting_is_one_error_line(trained_model_dir, images_here, capsys, monkeypatch):
    monkeypatch.setenv("LOGOLENS_PRECISION", "half")
    assert main(["classify", "--model", str(trained_model_dir), images_here[0]]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "LOGOLENS_PRECISION='half'" in one_error_line(captured.err)


def test_classify_reports_a_bad_image_and_goes_on(trained_model_dir, images_here, capsys, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    missing = tmp_path / "missing.png"
    argv = [images_here[0], str(corrupt), images_here[1], str(missing), images_here[2]]
    code = main(["classify", "--model", str(trained_model_dir), *argv])
    captured = capsys.readouterr()
    assert code == 1
    assert [line["image"] for line in parse_lines(captured.out)] == images_here
    errors = captured.err.splitlines()
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert errors[0].startswith(f"logolens: error: {corrupt}: ")
    assert errors[1].startswith(f"logolens: error: {missing}: ") and "no such file" in errors[1]


def test_classify_with_a_folder_that_is_no_model(tmp_path, images_here, capsys):
    code = main(["classify", "--model", str(tmp_path), images_here[0]])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    line = one_error_line(captured.err)
    assert str(tmp_path) in line and "not a logolens model folder" in line


def test_classify_with_a_git_lfs_pointer_for_weights(model_copy, images_here, capsys):
    weights = weights_path(model_copy)
    weights.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 171234\n")
    code = main(["classify", "--model", str(model_copy), images_here[0]])
    assert code == 2
    assert str(weights) in one_error_line(capsys.readouterr().err)


# ------------------------------------------------------------------ train and evaluate


def test_train_writes_the_model_folder(cli_trained, synthetic_dataset_dir):
    out, stdout = cli_trained
    for name in ("logolens.json", weights_path(out).name, "history.csv", "history.png", "metrics.json", "confusion.png", "split.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in ("history.png", "confusion.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    with open(out / "history.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == HISTORY_HEADER
    assert [row[0] for row in rows[1:]] == [str(e) for e in range(1, CLI_EPOCHS + 1)]
    assert all(len(row) == len(HISTORY_HEADER) and all(row) for row in rows[1:])
    manifest = json.loads((out / "logolens.json").read_text())
    assert manifest["data"]["path"] == str(synthetic_dataset_dir.resolve())
    assert manifest["settings"]["epochs"] == CLI_EPOCHS
    split = json.loads((out / "split.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_brands"] == 4 and metrics["n_samples"] > 0
    assert f"model and reports written to {out}" in stdout
    assert f"validation ({len(split['val'])} images, {metrics['n_samples']} crops): top-1 {metrics['top1_accuracy']:.3f}" in stdout


def test_evaluate_defaults_to_the_held_out_images(cli_trained, synthetic_dataset, capsys):
    out, _ = cli_trained
    assert main(["evaluate", "--model", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    report = json.loads((out / "val_metrics.json").read_text())
    assert (out / "val_confusion.png").is_file()
    val_names = set(json.loads((out / "split.json").read_text())["val"])
    assert report["part"] == "val"
    assert report["n_samples"] == sum(len(r.boxes) for r in synthetic_dataset if r.path.name in val_names)
    # the same images as scored at the end of training
    assert report["top1_accuracy"] == pytest.approx(json.loads((out / "metrics.json").read_text())["top1_accuracy"])
    assert re.search(rf"top-1 accuracy {report['top1_accuracy']:.3f}", captured.out)
    assert "val images of" in captured.out


def test_evaluate_all_into_another_folder(cli_trained, synthetic_dataset, synthetic_dataset_dir, capsys, tmp_path):
    out, _ = cli_trained
    code = main(["evaluate", "--model", str(out), "--data", str(synthetic_dataset_dir), "--part", "all",
                 "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    report = json.loads((tmp_path / "all_metrics.json").read_text())
    assert report["n_samples"] == synthetic_dataset.n_boxes and report["part"] == "all"
    assert "top-1 accuracy" in capsys.readouterr().out


def test_evaluate_defaults_to_test_when_there_is_one(synthetic_dataset_dir, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", "--data", str(synthetic_dataset_dir), "--out", str(out), "--model", "seed-cnn", "--epochs", "1",
                 "--val-fraction", "0.2", "--test-fraction", "0.2", "--no-progress"]) == 0
    assert main(["evaluate", "--model", str(out), "--out", str(tmp_path / "reports"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "reports" / "test_metrics.json").read_text())
    assert report["part"] == "test"
    assert "test images of" in capsys.readouterr().out


def test_evaluate_a_folder_that_is_no_model(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "nothing")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "nothing") in line


# ------------------------------------------------------------------ train errors


def test_train_with_a_wrong_data_path(tmp_path, capsys):
    missing = tmp_path / "no-such-data"
    code = main(["train", "--data", str(missing), "--out", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    line = one_error_line(captured.err)
    assert str(missing) in line
    assert not (tmp_path / "out").exists()


def test_train_with_an_unknown_model(synthetic_dataset_dir, tmp_path, capsys):
    code = main(["train", "--data", str(synthetic_dataset_dir), "--out", str(tmp_path / "out"), "--model", "seed-cn",
                 "--epochs", "1", "--no-progress"])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "unknown model 'seed-cn'" in line and "did you mean 'seed-cnn'" in line
    assert not (tmp_path / "out").exists()


def test_train_on_a_folder_that_is_no_dataset(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "empty") in line and "cannot tell the dataset format" in line


# ------------------------------------------------------------------ data


def test_data_stats_prints_per_brand_counts(synthetic_dataset_dir, synthetic_dataset, capsys):
    assert main(["data", "stats", str(synthetic_dataset_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{len(synthetic_dataset)} images, {synthetic_dataset.n_boxes} boxes, 4 brands" in out
    for brand in synthetic_dataset.brands:
        images = sum(1 for record in synthetic_dataset if brand in record.brands)
        boxes = sum(1 for record in synthetic_dataset for box in record.boxes if box.brand == brand)
        [row] = [line for line in out.splitlines() if re.search(rf"\b{brand}\b", line)]
        assert [int(n) for n in re.findall(r"\b\d+\b", row)] == [images, boxes], row


def test_data_stats_on_a_wrong_path(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path / "nope")]) == 2
    assert str(tmp_path / "nope") in one_error_line(capsys.readouterr().err)


def test_data_generate(tmp_path, capsys):
    from logolens.data.synthetic import generate_dataset

    out = tmp_path / "generated"
    assert main(["data", "generate", str(out), "--brands", "2", "--images-per-brand", "3", "--seed", "5", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    images = sorted((out / IMAGES_DIR).glob("*.jpg"))
    assert len(images) == 6
    assert re.fullmatch(rf"wrote 6 images with \d+ logos of 2 brands and 0 no-logo images to {re.escape(str(out))}\n", printed)
    # the same files as the library writes for the same arguments
    reference = tmp_path / "reference"
    generate_dataset(reference, n_brands=2, images_per_brand=3, seed=5)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert all((out / f).read_bytes() == (reference / f).read_bytes() for f in files)


def test_models_lists_seed_cnn(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("seed-cnn ") and "Keras" in line for line in lines)
