"""The hyperparameter sweep: one row per grid point, bad points noted not fatal, three report files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from logolens.classifier import LogoClassifier
from logolens.cli.main import main
from logolens.data.splits import split_dataset
from logolens.training.sweep import COLUMNS, run_sweep, write_sweep

LRS = [1e-3, 1e-2]
EPOCHS = 2
VAL_FRACTION = 0.25
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seed_rows(synthetic_dataset) -> list[dict]:
    return run_sweep(synthetic_dataset, ["seed-cnn"], lrs=LRS, epochs=EPOCHS, val_fraction=VAL_FRACTION, seed=0)


def test_one_row_per_learning_rate(seed_rows):
    assert [row["lr"] for row in seed_rows] == LRS
    for row in seed_rows:
        assert row["model"] == "seed-cnn" and row["head"] == "-" and row["note"] == ""
        assert row["image_size"] == 32  # the model's default, filled in
        assert 0.0 <= row["val_top1"] <= row["val_top5"] <= 1.0
        assert 0.0 <= row["val_macro_f1"] <= 1.0 and 0.0 <= row["val_ece"] <= 1.0
        assert row["train_seconds"] > 0
        assert set(row) <= set(COLUMNS)


def test_a_row_is_what_training_that_point_alone_gives(seed_rows, synthetic_dataset):
    split = split_dataset(synthetic_dataset, VAL_FRACTION, 0.0, 0)
    classifier = LogoClassifier(model="seed-cnn", lr=LRS[1], epochs=EPOCHS, seed=0).fit(split.train, split.val)
    report, _ = classifier.evaluate(split.val)
    assert seed_rows[1]["val_top1"] == pytest.approx(report["top1_accuracy"])
    assert seed_rows[1]["val_ece"] == pytest.approx(report["ece"], abs=1e-6)


def test_heads_do_not_multiply_seed_cnn_rows(synthetic_dataset):
    rows = run_sweep(synthetic_dataset, ["seed-cnn"], lrs=[1e-3], heads=["linear", "mlp"], epochs=1, val_fraction=VAL_FRACTION)
    assert len(rows) == 1 and rows[0]["head"] == "-"


def test_an_image_size_the_backbone_cannot_take_is_noted_not_fatal(synthetic_dataset, monkeypatch):
    fitted = []
    real_fit = LogoClassifier.fit
    monkeypatch.setattr(LogoClassifier, "fit", lambda self, *a, **k: fitted.append(self.image_size) or real_fit(self, *a, **k))
    rows = run_sweep(synthetic_dataset, ["dinov2-s14"], image_sizes=[100], lrs=[1e-3], epochs=1, val_fraction=VAL_FRACTION)
    assert len(rows) == 1
    row = rows[0]
    assert row["model"] == "dinov2-s14" and row["image_size"] == 100 and row["head"] == "linear"
    assert row["note"].startswith("skipped:") and "multiple of 14" in row["note"] and "100" in row["note"]
    assert row.get("val_top1") is None
    assert fitted == [100]  # refused while configuring, before any backbone was built


def test_unknown_model_fails_before_any_training(synthetic_dataset, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("fit was called")

    monkeypatch.setattr(LogoClassifier, "fit", never)
    with pytest.raises(ValueError, match=r"unknown model 'dinov3-s14'.*did you mean 'dinov2-s14'"):
        run_sweep(synthetic_dataset, ["seed-cnn", "dinov3-s14"], epochs=1)


# ------------------------------------------------------------------ report files


def made_up_rows() -> list[dict]:
    base = {"model": "seed-cnn", "image_size": 32, "head": "-", "val_top5": 1.0, "val_macro_f1": 0.5,
            "val_ece": 0.1, "train_seconds": 1.5, "note": ""}
    return [
        {**base, "lr": 1e-4, "val_top1": 0.5},
        {"model": "dinov2-s14", "image_size": 100, "head": "linear", "lr": None, "note": "skipped: bad size"},
        {**base, "lr": 1e-3, "val_top1": 0.9},
        {**base, "lr": 1e-2, "val_top1": 0.7},
    ]


def markdown_rows(text: str) -> list[dict]:
    lines = text.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert lines[1] == "|" + "---|" * len(COLUMNS)
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def test_write_sweep_writes_csv_markdown_and_png(tmp_path):
    rows = made_up_rows()
    files = write_sweep(rows, tmp_path / "out")
    assert files == {"csv": tmp_path / "out" / "sweep.csv", "markdown": tmp_path / "out" / "sweep.md",
                     "plot": tmp_path / "out" / "sweep.png"}

    with files["csv"].open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        table = list(reader)
    assert [r["lr"] for r in table] == ["0.0001", "", "0.001", "0.01"]  # input order, every row
    assert table[1]["note"] == "skipped: bad size" and table[1]["val_top1"] == ""

    shown = markdown_rows(files["markdown"].read_text(encoding="utf-8"))
    assert list(shown[0]) == list(COLUMNS)
    assert [r["val_top1"] for r in shown] == ["0.900", "0.700", "0.500", ""]  # best first, skipped last
    assert shown[-1]["note"] == "skipped: bad size"
    assert shown[0]["lr"] == "0.001"

    assert files["plot"].read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(files["plot"]) as image:
        image.verify()
    with Image.open(files["plot"]) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        assert np.asarray(image.convert("L")).std() > 0  # something was drawn


def test_write_sweep_of_real_rows(seed_rows, tmp_path):
    files = write_sweep(seed_rows, tmp_path)
    shown = markdown_rows(files["markdown"].read_text(encoding="utf-8"))
    assert len(shown) == len(seed_rows)
    scores = [float(r["val_top1"]) for r in shown]
    assert scores == sorted(scores, reverse=True)
    assert len(list(csv.DictReader(files["csv"].open(newline="")))) == len(seed_rows)
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["sweep.csv", "sweep.md", "sweep.png"]  # no temp files


def test_cli_sweep_prints_the_markdown_table(synthetic_dataset_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "--data", str(synthetic_dataset_dir), "--out", str(out), "--models", "seed-cnn",
                 "--lrs", "1e-3", "1e-2", "--epochs", "1", "--val-fraction", str(VAL_FRACTION), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    markdown = (out / "sweep.md").read_text(encoding="utf-8")
    assert captured.out.startswith("| " + " | ".join(COLUMNS) + " |\n")
    assert captured.out.startswith(markdown)
    assert len(markdown_rows(markdown)) == 2
    assert "sweep.csv" in captured.out.splitlines()[-1] and "sweep.png" in captured.out.splitlines()[-1]
    assert (out / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)


def test_cli_sweep_unknown_model_is_one_error_line(synthetic_dataset_dir, tmp_path, capsys):
    code = main(["sweep", "--data", str(synthetic_dataset_dir), "--out", str(tmp_path / "s"), "--models", "seed-cn",
                 "--epochs", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and "unknown model 'seed-cn'" in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "s").exists()
