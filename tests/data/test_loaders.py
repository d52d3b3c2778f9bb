"""FlickrLogos-32, folder-per-brand and COCO loaders, and format detection, on tiny generated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from logolens.data.coco import read_coco, write_coco
from logolens.data.dataset import Box, ImageRecord, LogoDataset
from logolens.data.flickr27 import IMAGES_DIR, QUERY_FILE, TRAINING_FILE
from logolens.data.flickr32 import read_flickr32
from logolens.data.folders import read_folders
from logolens.data.formats import FORMATS, detect_format, load_dataset
from logolens.errors import DataError, LogolensWarning


def make_image(path: Path, size: tuple[int, int] = (100, 80)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (30, 120, 200)).save(path)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- FlickrLogos-32 ------------------------------------------------------------------------------


@pytest.fixture
def flickr32_root(tmp_path: Path) -> Path:
    classes = tmp_path / "FlickrLogos-v2" / "classes"
    make_image(classes / "jpg" / "adidas" / "1.jpg")
    make_image(classes / "jpg" / "adidas" / "2.jpg")
    make_image(classes / "jpg" / "apple" / "3.jpg")
    make_image(classes / "jpg" / "no-logo" / "4.jpg")
    write_text(classes / "masks" / "adidas" / "1.jpg.bboxes.txt", "x y width height\n10 10 30 20 \n50 20 20 20\n")
    write_text(classes / "masks" / "adidas" / "2.bboxes.txt", "0 0 10 10\n")
    write_text(classes / "masks" / "apple" / "3.jpg.bboxes.txt", "x y width height\n5 5 10 10\n")
    return tmp_path / "FlickrLogos-v2"


def test_flickr32_reads_boxes_as_xyxy(flickr32_root: Path) -> None:
    dataset = read_flickr32(flickr32_root)
    assert [r.path.name for r in dataset] == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    assert dataset[0].boxes == (Box(10, 10, 40, 30, "adidas"), Box(50, 20, 70, 40, "adidas"))
    assert dataset[1].boxes == (Box(0, 0, 10, 10, "adidas"),)
    assert dataset.brands == ("adidas", "apple")
    assert dataset[3].brands == () and not dataset[3].boxes
    assert dataset.name == "FlickrLogos-v2"


def test_flickr32_accepts_the_classes_folder(flickr32_root: Path) -> None:
    assert read_flickr32(flickr32_root / "classes").records == read_flickr32(flickr32_root).records


def test_flickr32_image_without_bboxes_keeps_brand_with_one_warning(flickr32_root: Path) -> None:
    make_image(flickr32_root / "classes" / "jpg" / "apple" / "5.jpg")
    make_image(flickr32_root / "classes" / "jpg" / "apple" / "6.jpg")
    with pytest.warns(LogolensWarning, match=r"2 of 3 apple image\(s\) have no \.bboxes\.txt") as caught:
        dataset = read_flickr32(flickr32_root)
    assert len(caught) == 1
    unboxed = [r for r in dataset if r.path.name in ("5.jpg", "6.jpg")]
    assert [(r.brands, r.boxes) for r in unboxed] == [(("apple",), ()), (("apple",), ())]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("x y width height\n1 2 3\n", 2, "expected 4 fields"),
        ("1 2 3 4\nx y width height\n", 2, "must be 4 numbers"),
        ("1 2 -3 4\n", 1, "negative width"),
        ("1 2 3 4\n500 500 10 10\n", 2, "lies outside"),
    ],
)
def test_flickr32_malformed_bboxes_names_file_and_line(flickr32_root: Path, text: str, line: int, message: str) -> None:
    boxes = write_text(flickr32_root / "classes" / "masks" / "apple" / "3.jpg.bboxes.txt", text)
    with pytest.raises(DataError, match=message) as caught:
        read_flickr32(flickr32_root)
    assert str(caught.value).startswith(f"{boxes}:{line}:")


def test_flickr32_clips_and_skips_with_warnings(flickr32_root: Path) -> None:
    write_text(flickr32_root / "classes" / "masks" / "apple" / "3.jpg.bboxes.txt", "90 10 20 10\n")
    (flickr32_root / "classes" / "jpg" / "no-logo" / "4.jpg").write_bytes(b"broken")
    with pytest.warns(LogolensWarning) as caught:
        dataset = read_flickr32(flickr32_root)
    messages = " | ".join(str(w.message) for w in caught)
    assert "3.jpg.bboxes.txt:1: box" in messages and "clipped" in messages
    assert "4.jpg" in messages and "image skipped" in messages
    assert [r.path.name for r in dataset] == ["1.jpg", "2.jpg", "3.jpg"]
    assert dataset[2].boxes == (Box(90, 10, 100, 20, "apple"),)


def test_flickr32_not_a_flickr32_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a FlickrLogos-32 folder"):
        read_flickr32(tmp_path)


# --- folder per brand ----------------------------------------------------------------------------


@pytest.fixture
def brand_root(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    make_image(root / "Nike" / "b.png", (40, 30))
    make_image(root / "Nike" / "sub" / "a.jpg")
    make_image(root / "Adidas" / "x.jpg")
    make_image(root / "none" / "street.jpg")
    make_image(root / ".hidden" / "h.jpg")
    make_image(root / "Adidas" / ".thumbs" / "t.jpg")
    write_text(root / "Adidas" / "notes.txt", "not an image")
    return root


def test_folders_labels_images_with_their_folder(brand_root: Path) -> None:
    dataset = read_folders(brand_root)
    names = [r.path.relative_to(brand_root).as_posix() for r in dataset]
    assert names == ["Adidas/x.jpg", "Nike/b.png", "Nike/sub/a.jpg", "none/street.jpg"]
    assert [r.brands for r in dataset] == [("Adidas",), ("Nike",), ("Nike",), ()]
    assert (dataset[1].width, dataset[1].height) == (40, 30)
    assert dataset.brands == ("Adidas", "Nike")
    assert all(not r.boxes for r in dataset)


def test_folders_no_logo_folder_and_unreadable_image(brand_root: Path) -> None:
    (brand_root / "none").rename(brand_root / "no-logo")
    (brand_root / "Nike" / "b.png").write_bytes(b"garbage")
    with pytest.warns(LogolensWarning, match=r"b\.png.*not an image file"):
        dataset = read_folders(brand_root)
    assert [r.path.name for r in dataset] == ["x.jpg", "a.jpg", "street.jpg"]
    assert dataset[2].brands == ()


def test_folders_loose_images_ignored_with_warning(brand_root: Path) -> None:
    make_image(brand_root / "loose.jpg")
    with pytest.warns(LogolensWarning, match="directly in the folder ignored"):
        dataset = read_folders(brand_root)
    assert "loose.jpg" not in [r.path.name for r in dataset]


@pytest.mark.parametrize("layout", ["empty", "no images", "not a folder"])
def test_folders_without_images_is_an_error(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "root"
    if layout == "not a folder":
        write_text(root, "x")
    else:
        (root / "Nike").mkdir(parents=True)
        if layout == "no images":
            write_text(root / "Nike" / "readme.txt", "x")
    with pytest.raises(DataError, match="no images found in|is not a folder") as caught:
        read_folders(root)
    assert str(root) in str(caught.value)


# --- COCO ----------------------------------------------------------------------------------------


def coco_payload(**overrides: object) -> dict:
    payload = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 100, "height": 80, "logolens_brands": ["Pepsi"]},
            {"id": 3, "file_name": "c.jpg", "width": 100, "height": 80},
        ],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 2, "bbox": [10, 10, 30, 20], "area": 600, "iscrowd": 0},
            {"id": 8, "image_id": 1, "category_id": 1, "bbox": [50.5, 20.25, 20, 20], "area": 400, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "Nike"}, {"id": 2, "name": "Adidas"}, {"id": 3, "name": "Pepsi"}, {"id": 4, "name": "Unused"}],
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_image(tmp_path / "images" / name)
    write_text(tmp_path / "instances.json", json.dumps(coco_payload()))
    return tmp_path


def test_coco_reads_boxes_brands_and_category_order(coco_dir: Path) -> None:
    dataset = read_coco(coco_dir / "instances.json")
    assert dataset.brands == ("Nike", "Adidas", "Pepsi", "Unused")
    assert [r.path for r in dataset] == [coco_dir / "images" / n for n in ("a.jpg", "b.jpg", "c.jpg")]
    assert dataset[0].boxes == (Box(10, 10, 40, 30, "Adidas"), Box(50.5, 20.25, 70.5, 40.25, "Nike"))
    assert dataset[1].brands == ("Pepsi",) and not dataset[1].boxes
    assert dataset[2].brands == ()


def test_coco_explicit_images_dir(coco_dir: Path, tmp_path: Path) -> None:
    json_file = write_text(tmp_path / "elsewhere" / "x.json", json.dumps(coco_payload()))
    dataset = read_coco(json_file, images_dir=coco_dir / "images")
    assert dataset[0].path == coco_dir / "images" / "a.jpg"


def test_coco_round_trip_is_exact_and_byte_identical(tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")
    make_image(tmp_path / "imgs" / "deep" / "b.jpg", (64, 48))
    make_image(tmp_path / "imgs" / "c.jpg")
    original = LogoDataset((
        ImageRecord(tmp_path / "imgs" / "a.jpg", 100, 80, (Box(0.1, 0.2, 0.7, 0.3, "Zeta"), Box(10, 10, 40, 30, "Alpha")), brands=("Mid",)),
        ImageRecord(tmp_path / "imgs" / "deep" / "b.jpg", 64, 48, (Box(1 / 3, 2 / 3, 63.9, 47.123456789, "Alpha"),)),
        ImageRecord(tmp_path / "imgs" / "c.jpg", 100, 80),
    ), brands=("Zeta", "Alpha", "Mid", "Unused"))
    first = write_coco(original, tmp_path / "ann" / "coco.json", images_dir=tmp_path / "imgs")
    assert first == tmp_path / "ann" / "coco.json"
    payload = json.loads(first.read_text())
    assert [c["name"] for c in payload["categories"]] == ["Zeta", "Alpha", "Mid", "Unused"]
    assert payload["images"][0]["logolens_brands"] == ["Mid"]
    assert "logolens_brands" not in payload["images"][1]
    again = read_coco(first, images_dir=tmp_path / "imgs")
    assert again.records == original.records
    assert again.brands == original.brands
    second = write_coco(again, tmp_path / "coco2.json", images_dir=tmp_path / "imgs")
    assert second.read_bytes() == first.read_bytes()
    assert write_coco(original, tmp_path / "coco3.json", images_dir=tmp_path / "imgs").read_bytes() == first.read_bytes()


def test_coco_default_images_dir_is_the_json_folder(coco_dir: Path) -> None:
    dataset = read_coco(coco_dir / "instances.json")
    out = write_coco(dataset, coco_dir / "copy.json")
    assert json.loads(out.read_text())["images"][0]["file_name"] == "images/a.jpg"
    assert read_coco(out).records == dataset.records
    assert not list(coco_dir.glob(".*.tmp"))


def test_coco_invalid_json_reports_the_line(coco_dir: Path) -> None:
    bad = write_text(coco_dir / "bad.json", '{\n  "images": [],\n  "categories": [,]\n}\n')
    with pytest.raises(DataError, match=r"bad\.json:3: invalid JSON"):
        read_coco(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("categories"), "missing key 'categories'"),
        (lambda p: p["images"][2].pop("width"), "image id 3: missing key 'width'"),
        (lambda p: p["annotations"][0].pop("bbox"), "annotation id 7: missing key 'bbox'"),
        (lambda p: p["annotations"][0].update(image_id=99), "annotation id 7: unknown image_id 99"),
        (lambda p: p["annotations"][1].update(category_id=42), "annotation id 8: unknown category_id 42"),
        (lambda p: p["annotations"][0].update(bbox=[1, 1, -5, 5]), "annotation id 7: bbox .* negative width"),
        (lambda p: p["annotations"][0].update(bbox=[1, 1, "5", 5]), "annotation id 7: bbox must be 4 numbers"),
        (lambda p: p["annotations"][0].update(bbox=[90, 70, 50, 50]), "annotation id 7: box .* lies outside"),
        (lambda p: p["images"][0].update(width=640), "image id 1: width x height 640x80 disagrees"),
        (lambda p: p["images"][0].update(file_name="gone.jpg"), "image id 1: image 'gone.jpg' not found"),
        (lambda p: p["images"][1].update(logolens_brands=["Puma"]), "image id 2: logolens_brands must list category names"),
        (lambda p: p["images"].append({"id": 1, "file_name": "a.jpg", "width": 1, "height": 1}), "duplicate image id"),
        (lambda p: p["categories"].append({"id": 9, "name": "none"}), "'none' is reserved"),
    ],
)
def test_coco_errors_name_file_and_item(coco_dir: Path, change, message: str) -> None:
    payload = coco_payload()
    change(payload)
    path = write_text(coco_dir / "instances.json", json.dumps(payload))
    with pytest.raises(DataError, match=message) as caught:
        read_coco(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_coco_clips_drops_and_skips_with_warnings(coco_dir: Path) -> None:
    payload = coco_payload()
    payload["annotations"][0]["bbox"] = [80, 10, 30, 20]  # 20 of 30 px inside: clipped
    payload["annotations"].append({"id": 9, "image_id": 3, "category_id": 4, "bbox": [5, 5, 0, 5]})
    (coco_dir / "images" / "b.jpg").write_bytes(b"\xff\xd8broken")
    path = write_text(coco_dir / "instances.json", json.dumps(payload))
    with pytest.warns(LogolensWarning) as caught:
        dataset = read_coco(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "annotation id 7: box" in messages and "clipped" in messages
    assert "annotation id 9: zero-area box" in messages
    assert "image id 2" in messages and "image skipped" in messages
    assert [r.path.name for r in dataset] == ["a.jpg", "c.jpg"]
    assert dataset[0].boxes[0] == Box(80, 10, 100, 30, "Adidas")
    assert dataset[1].brands == ("Unused",) and not dataset[1].boxes


# --- load_dataset and detection ------------------------------------------------------------------


@pytest.fixture
def flickr27_dir(tmp_path: Path) -> Path:
    root = tmp_path / "fl27"
    make_image(root / IMAGES_DIR / "a.jpg")
    make_image(root / IMAGES_DIR / "b.jpg")
    write_text(root / TRAINING_FILE, "a.jpg Adidas 1 10 10 50 40 \n")
    write_text(root / QUERY_FILE, "a.jpg\tAdidas\nb.jpg\tnone\n")
    return root


def test_load_dataset_detects_flickr27(flickr27_dir: Path) -> None:
    by_folder = load_dataset(flickr27_dir)
    assert by_folder.n_boxes == 1 and by_folder.name == TRAINING_FILE[:-4]
    assert load_dataset(flickr27_dir / TRAINING_FILE).records == by_folder.records
    query = load_dataset(flickr27_dir / QUERY_FILE)
    assert [r.brands for r in query] == [("Adidas",), ()]
    assert detect_format(flickr27_dir / QUERY_FILE) == ("flickr27-query", flickr27_dir / QUERY_FILE)
    (flickr27_dir / TRAINING_FILE).unlink()
    assert detect_format(flickr27_dir) == ("flickr27-query", flickr27_dir / QUERY_FILE)
    assert load_dataset(flickr27_dir, format="flickr27-query").records == query.records


def test_load_dataset_detects_flickr32(flickr32_root: Path) -> None:
    assert detect_format(flickr32_root) == ("flickr32", flickr32_root)
    assert detect_format(flickr32_root / "classes")[0] == "flickr32"
    assert load_dataset(flickr32_root).n_boxes == 4


def test_load_dataset_detects_coco(coco_dir: Path) -> None:
    assert detect_format(coco_dir) == ("coco", coco_dir / "instances.json")
    assert load_dataset(coco_dir).brands == ("Nike", "Adidas", "Pepsi", "Unused")
    assert load_dataset(coco_dir / "instances.json", images_dir=coco_dir / "images").n_boxes == 2
    write_text(coco_dir / "other.json", json.dumps(coco_payload()))
    with pytest.raises(DataError, match="several COCO files"):
        load_dataset(coco_dir)
    assert len(load_dataset(coco_dir / "other.json", format="coco")) == 3


def test_load_dataset_detects_folders(brand_root: Path) -> None:
    assert detect_format(brand_root) == ("folders", brand_root)
    assert load_dataset(brand_root).brands == ("Adidas", "Nike")
    with pytest.raises(ValueError, match="images_dir applies to"):
        load_dataset(brand_root, format="folders", images_dir=brand_root)


def test_unknown_format_suggests_close_match(brand_root: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown format 'flikr32' \(did you mean 'flickr32'"):
        load_dataset(brand_root, format="flikr32")
    assert "coco" in FORMATS


def test_missing_path_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder") as caught:
        load_dataset(tmp_path / "nowhere")
    assert caught.value.path == tmp_path / "nowhere"


@pytest.mark.parametrize("kind", ["folder", "text"])
def test_undetectable_layout_says_what_was_tried(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "notes.txt" if kind == "text" else tmp_path / "empty"
    if kind == "text":
        write_text(path, "hello world\n")
    else:
        (path / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=r"cannot tell the .*format.*pass --format") as caught:
        load_dataset(path)
    assert "flickr27" in str(caught.value) and "coco" in str(caught.value)
