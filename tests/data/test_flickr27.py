"""FlickrLogos-27 loaders on tiny generated files: each quirk of the real file and each error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from logolens.data.dataset import Box
from logolens.data.flickr27 import (
    IMAGES_DIR,
    TRAINING_FILE,
    read_query_annotations,
    read_training_annotations,
    write_training_annotations,
)
from logolens.errors import DataError, LogolensWarning


def make_jpeg(path: Path, size: tuple[int, int] = (100, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path, "JPEG")
    return path


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """A FlickrLogos-27-like folder with three 100x80 images."""
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_jpeg(tmp_path / IMAGES_DIR / name)
    return tmp_path


def write_annotations(folder: Path, lines: list[str], name: str = TRAINING_FILE) -> Path:
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_subset_repeats_count_once(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, [
        "a.jpg Adidas 1 10 10 50 40 ",
        "a.jpg Adidas 2 10 10 50 40 ",
        "a.jpg Adidas 3 10 10 50 40 ",
        "a.jpg Adidas 3 60 10 90 40 ",
        "b.jpg Apple 4 0 0 20 20 ",
    ])
    dataset = read_training_annotations(path)
    assert [r.path.name for r in dataset] == ["a.jpg", "b.jpg"]
    assert dataset[0].boxes == (Box(10, 10, 50, 40, "Adidas"), Box(60, 10, 90, 40, "Adidas"))
    assert dataset.n_boxes == 3
    assert dataset.brands == ("Adidas", "Apple")
    assert (dataset[0].width, dataset[0].height) == (100, 80)
    assert dataset[0].path == dataset_dir / IMAGES_DIR / "a.jpg"


def test_zero_area_box_dropped_with_warning(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg Adidas 1 10 10 50 40 ", "a.jpg Adidas 1 5 5 5 30 "])
    with pytest.warns(LogolensWarning, match=rf"{TRAINING_FILE}:2: zero-area box"):
        dataset = read_training_annotations(path)
    assert dataset[0].boxes == (Box(10, 10, 50, 40, "Adidas"),)


def test_image_with_only_zero_area_boxes_keeps_its_brand(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg Adidas 1 10 10 50 40 ", "b.jpg RedBull 2 3 40 3 40 "])
    with pytest.warns(LogolensWarning, match="zero-area"):
        dataset = read_training_annotations(path)
    assert dataset[1].brands == ("RedBull",)


def test_image_with_two_brands_kept_once(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg Cocacola 1 10 10 50 40 ", "a.jpg Pepsi 1 60 10 90 40 "])
    dataset = read_training_annotations(path)
    assert len(dataset) == 1
    assert dataset[0].brands == ("Cocacola", "Pepsi")
    assert {box.brand for box in dataset[0].boxes} == {"Cocacola", "Pepsi"}


def test_query_set_none_is_no_logo(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg\tAdidas", "b.jpg\tnone", "c.jpg\tApple"], name="query.txt")
    dataset = read_query_annotations(path)
    assert [r.brands for r in dataset] == [("Adidas",), (), ("Apple",)]
    assert not dataset[1].has_logo
    assert dataset.brands == ("Adidas", "Apple")
    assert all(not r.boxes for r in dataset)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a.jpg Adidas 1 10 10 50", "expected 7 fields"),
        ("a.jpg Adidas 1 10 ten 50 40", "must be numbers"),
        ("missing.jpg Adidas 1 10 10 50 40", "'missing.jpg' not found"),
        ("a.jpg Adidas 1 200 10 300 40", "lies outside the 100x80 image"),
        ("a.jpg Adidas 1 50 10 10 40", "x2 < x1"),
        ("a.jpg none 1 10 10 50 40", "no-logo images belong in the query set"),
    ],
)
def test_malformed_training_line_names_file_and_line(dataset_dir: Path, line: str, message: str) -> None:
    path = write_annotations(dataset_dir, ["# a comment", "b.jpg Apple 1 0 0 20 20 ", line])
    with pytest.raises(DataError, match=message) as caught:
        read_training_annotations(path)
    assert f"{path}:3:" in str(caught.value)
    assert caught.value.line == 3


def test_query_line_without_tab_is_an_error(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg\tAdidas", "b.jpg Adidas"], name="query.txt")
    with pytest.raises(DataError, match=r"query.txt:2: expected 'filename<TAB>brand'"):
        read_query_annotations(path)


def test_slightly_outside_box_clipped_with_warning(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["a.jpg Adidas 1 -5 10 50 85 "])
    with pytest.warns(LogolensWarning, match=rf"{TRAINING_FILE}:1: a.jpg: box .* clipped to the 100x80 image"):
        dataset = read_training_annotations(path)
    assert dataset[0].boxes == (Box(0, 10, 50, 80, "Adidas"),)


@pytest.mark.parametrize("content", [b"", b"not a jpeg at all", b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_corrupt_image_skipped_with_warning(dataset_dir: Path, content: bytes) -> None:
    (dataset_dir / IMAGES_DIR / "b.jpg").write_bytes(content)
    path = write_annotations(dataset_dir, ["a.jpg Adidas 1 10 10 50 40 ", "b.jpg Apple 1 0 0 20 20 "])
    with pytest.warns(LogolensWarning, match=rf"{TRAINING_FILE}:2: image skipped"):
        dataset = read_training_annotations(path)
    assert [r.path.name for r in dataset] == ["a.jpg"]


def test_file_with_no_usable_lines_is_an_error(dataset_dir: Path) -> None:
    path = write_annotations(dataset_dir, ["# only a comment", ""])
    with pytest.raises(DataError, match="no usable annotations"):
        read_training_annotations(path)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="annotation file not found"):
        read_training_annotations(tmp_path / "nope.txt")


def test_explicit_images_dir(tmp_path: Path) -> None:
    make_jpeg(tmp_path / "pics" / "a.jpg")
    path = write_annotations(tmp_path, ["a.jpg Adidas 1 10 10 50 40 "], name="ann.txt")
    dataset = read_training_annotations(path, images_dir=tmp_path / "pics")
    assert dataset[0].path == tmp_path / "pics" / "a.jpg"


def test_write_then_read_gives_the_same_dataset(dataset_dir: Path, tmp_path: Path) -> None:
    path = write_annotations(dataset_dir, [
        "a.jpg Cocacola 1 10 10 50 40 ",
        "a.jpg Pepsi 2 60 10 90 40 ",
        "a.jpg Pepsi 3 60 10 90 40 ",
        "c.jpg Apple 1 0 0 20 20 ",
    ])
    original = read_training_annotations(path)
    copy = tmp_path / "out" / TRAINING_FILE
    written = write_training_annotations(original, copy, images_dir=dataset_dir / IMAGES_DIR)
    assert written == copy
    again = read_training_annotations(copy, images_dir=dataset_dir / IMAGES_DIR)
    assert again.records == original.records
    assert again.brands == original.brands
    rewritten = write_training_annotations(again, tmp_path / "out2.txt", images_dir=dataset_dir / IMAGES_DIR)
    assert rewritten.read_bytes() == copy.read_bytes()
