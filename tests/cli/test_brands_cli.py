"""``logolens brands add|list|remove|export|import|init`` and ``classify`` with enrolled brands."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FEWSHOT_TRAINED, brand_order
from logolens.cli.commands import parse_example
from logolens.cli.main import main


@pytest.fixture
def model(fewshot_model_dir, tmp_path):
    return shutil.copytree(fewshot_model_dir, tmp_path / "model")


def examples(dataset, brand, n=3):
    """``photo.jpg@x1,y1,x2,y2`` arguments for ``n`` scenes showing ``brand``."""
    records = [r for r in dataset if r.primary_brand == brand][:n]
    return [f"{r.path}@{','.join(f'{v:g}' for v in next(b.xyxy for b in r.boxes if b.brand == brand))}" for r in records]


def test_parse_example():
    assert parse_example("a.jpg") == ("a.jpg", None)
    assert parse_example("dir/a b.jpg@1,2.5,30,40") == ("dir/a b.jpg", (1.0, 2.5, 30.0, 40.0))
    with pytest.raises(ValueError, match="no area"):
        parse_example("a.jpg@10,10,5,20")


def test_add_list_classify_export_import_remove(model, fewshot_dataset, tmp_path, capsys):
    new = brand_order()[FEWSHOT_TRAINED]
    assert main(["brands", "add", "--model", str(model), new, *examples(fewshot_dataset, new)]) == 0
    assert f"enrolled '{new}' from 3 example(s)" in capsys.readouterr().out
    assert main(["brands", "list", "--model", str(model), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len([r for r in rows if r["source"] == "trained"]) == FEWSHOT_TRAINED
    assert rows[-1] == {"brand": new, "source": "gallery", "exemplars": 6, "images": 3}

    crop = tmp_path / "crop.png"
    record = [r for r in fewshot_dataset if r.primary_brand == new][5]
    from PIL import Image

    Image.open(record.path).crop(tuple(round(v) for v in next(b.xyxy for b in record.boxes if b.brand == new))).save(crop)
    assert main(["classify", "--model", str(model), "--top-k", "3", str(crop)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["image"] == str(crop) and len(line["predictions"]) == 3
    assert all(set(p) == {"brand", "score", "source"} for p in line["predictions"])
    assert {p["source"] for p in line["predictions"] if p["brand"] == new} == {"gallery"}

    exported = tmp_path / "brands.npz"
    assert main(["brands", "export", "--model", str(model), str(exported)]) == 0
    other = shutil.copytree(model.parent / "model", tmp_path / "other")
    assert main(["brands", "remove", "--model", str(other), new]) == 0
    assert main(["brands", "import", "--model", str(other), str(exported)]) == 0
    assert f"imported 1 brand(s) into {other}: {new}" in capsys.readouterr().out
    assert (other / "gallery.npz").read_bytes() == (model / "gallery.npz").read_bytes()
    assert main(["brands", "import", "--model", str(other), str(exported)]) == 2
    assert "already enrolled" in capsys.readouterr().err
    assert main(["brands", "import", "--model", str(other), "--replace", str(exported)]) == 0
    assert main(["brands", "remove", "--model", str(other), new]) == 0
    capsys.readouterr()
    main(["brands", "list", "--model", str(other), "--json"])
    assert all(json.loads(r)["source"] == "trained" for r in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("args, message", [
    (["  "], "the brand name is empty"),
    (["Newco"], "no example images given for brand 'Newco'"),
    (["unknown", "x.jpg"], "'unknown' is reserved"),
])
def test_bad_enrolments_are_one_line_and_change_nothing(model, args, message, capsys):
    before = (model / "gallery.npz").read_bytes()
    assert main(["brands", "add", "--model", str(model), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert (model / "gallery.npz").read_bytes() == before


def test_unreadable_or_missing_example_names_the_file(model, fewshot_dataset, tmp_path, capsys):
    before = (model / "gallery.npz").read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    good = examples(fewshot_dataset, brand_order()[FEWSHOT_TRAINED], 1)
    for bad in (str(broken), str(tmp_path / "missing.jpg")):
        assert main(["brands", "add", "--model", str(model), "Newco", *good, bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and bad in err[0] and "Traceback" not in err[0]
    assert (model / "gallery.npz").read_bytes() == before


def test_remove_unknown_brand_and_foreign_gallery_are_refused(model, tmp_path, capsys):
    assert main(["brands", "remove", "--model", str(model), "Nope"]) == 2
    assert "nothing is enrolled" in capsys.readouterr().err
    import numpy as np

    from logolens.gallery.store import BrandGallery

    foreign = BrandGallery("some-other-embedding", np.ones((1, 768)), ["Newco"], ["gallery"], ["x.jpg view 0"], views=1)
    foreign.save(tmp_path / "foreign.npz")
    assert main(["brands", "import", "--model", str(model), str(tmp_path / "foreign.npz")]) == 2
    assert "re-enrol" in capsys.readouterr().err


def test_init_rebuilds_the_references_of_an_older_model(model_copy, capsys):
    (model_copy / "gallery.npz").unlink()
    assert main(["brands", "list", "--model", str(model_copy)]) == 2
    assert "logolens brands init" in capsys.readouterr().err
    assert main(["brands", "init", "--model", str(model_copy), "--views", "0", "--no-progress"]) == 0
    assert "trained brands" in capsys.readouterr().out
    assert main(["brands", "list", "--model", str(model_copy), "--json"]) == 0
    assert {json.loads(r)["source"] for r in capsys.readouterr().out.splitlines()} == {"trained"}


@pytest.mark.skipif(not __import__("logolens.inference.ocr", fromlist=["x"]).ocr_available(), reason="rapidocr is not installed")
def test_init_with_ocr_calibrates_the_open_set_of_reading_text(model_copy, capsys):
    from logolens.gallery.folder import open_gallery

    assert open_gallery(model_copy).calibration.text_threshold is None
    assert main(["brands", "init", "--model", str(model_copy), "--views", "0", "--ocr", "--no-progress"]) == 0
    assert "with --ocr" in capsys.readouterr().out
    calibration = open_gallery(model_copy).calibration
    assert calibration.text_threshold is not None and calibration.simulated_text_false_accept <= 0.1


def test_training_with_ocr_but_no_rapidocr_fails_before_training(synthetic_dataset_dir, tmp_path, monkeypatch, capsys):
    import logolens.inference.ocr as ocr

    ocr._reader.cache_clear()  # a reader made by an earlier test would pass the check
    monkeypatch.setattr(ocr, "ocr_available", lambda: False)
    out = tmp_path / "model"
    try:
        assert main(["train", "--data", str(synthetic_dataset_dir), "--out", str(out), "--ocr", "--no-progress"]) == 2
    finally:
        ocr._reader.cache_clear()
    assert "pip install 'logolens[ocr]'" in capsys.readouterr().err and not out.exists()


def _stale(model, enrolled: str | None = None, fewshot_dataset=None):
    """Rewrite the model's gallery as if an older logolens (another embedding) had made it."""
    from logolens.gallery.store import BrandGallery

    if enrolled:
        assert main(["brands", "add", "--model", str(model), enrolled, *examples(fewshot_dataset, enrolled, 1)]) == 0
    gallery = BrandGallery.load(model / "gallery.npz")
    gallery.embedder = "dinov2-s14@older/blocks10/tight-square-224"
    gallery.save(model / "gallery.npz")


def test_gallery_of_an_older_embedding_with_only_references_leaves_classify_working(model, fewshot_dataset, capsys):
    _stale(model)
    crop = str(fewshot_dataset[0].path)
    assert main(["classify", "--model", str(model), crop]) == 0
    assert {p["source"] for p in json.loads(capsys.readouterr().out)["predictions"]} == {"trained"}
    assert main(["brands", "add", "--model", str(model), "Newco", crop]) == 2
    err = capsys.readouterr().err.strip()
    assert "older" in err and f"logolens brands init --model {model}" in err and "\n" not in err


def test_gallery_of_an_older_embedding_with_enrolled_brands_is_refused_until_rebuilt(model, fewshot_dataset, capsys):
    new = brand_order()[FEWSHOT_TRAINED]
    _stale(model, new, fewshot_dataset)
    crop = str(fewshot_dataset[0].path)
    capsys.readouterr()
    assert main(["classify", "--model", str(model), crop]) == 2
    assert "enrol the brands again" in capsys.readouterr().err
    from logolens.data.crops import logo_samples
    from logolens.errors import LogolensWarning
    from logolens.gallery.folder import build_reference

    trained = brand_order()[:FEWSHOT_TRAINED]
    samples = [s for s in logo_samples(fewshot_dataset) if s.brand in trained]
    with pytest.warns(LogolensWarning, match=f"enrolled brands {new} were embedded with .*enrol them again"):
        rebuilt = build_reference(model, samples, views=0)  # what 'logolens brands init' runs
    assert rebuilt.enrolled_brands == [] and sorted(rebuilt.trained_brands) == sorted(trained)
    assert main(["classify", "--model", str(model), crop]) == 0


def test_box_outside_the_image_is_refused(model, fewshot_dataset, capsys):
    record = fewshot_dataset[0]
    assert main(["brands", "add", "--model", str(model), "Newco", f"{record.path}@5000,5000,5100,5100"]) == 2
    err = capsys.readouterr().err
    assert str(record.path) in err and "mostly outside" in err
