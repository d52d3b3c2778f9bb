"""COCO detection JSON: the exchange format of most labelling tools and detection frameworks.

``images`` ``[{id, file_name, width, height}]``, ``annotations``
``[{id, image_id, category_id, bbox: [x, y, w, h], area, iscrowd}]`` and ``categories``
``[{id, name}]``. Boxes are pixels with ``(x, y)`` the top-left corner; they become ``xyxy``.
The category order in the file is the brand order (class ids), so a dataset written here and read
back keeps its label space even for brands without any box.

COCO has no image-level labels, so brands an image shows without a box are stored in an extra
per-image field ``logolens_brands`` that other COCO tools ignore.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

from logolens.data.checks import fit_box, size_or_warn
from logolens.data.dataset import NO_LOGO, Box, ImageRecord, LogoDataset
from logolens.errors import DataError, LogolensWarning
from logolens.utils import atomic_write_json

EXTRA_BRANDS = "logolens_brands"


def read_coco(json_path: str | Path, images_dir: str | Path | None = None) -> LogoDataset:
    """Load a COCO file; image paths are relative to ``images_dir`` (default: the file's folder,
    then its ``images`` sub-folder).

    Raises :class:`DataError` naming the file (and the image or annotation id) for invalid JSON,
    missing keys, unknown ids, negative box sizes, a missing image, a size that disagrees with
    the image file or a box mostly outside its image. Unreadable images are skipped with a warning.
    """
    path = Path(json_path)
    data = _load_json(path)
    brands, category_of = _categories(path, data)
    folders = [Path(images_dir)] if images_dir is not None else [path.parent, path.parent / "images"]
    images: dict[Any, dict] = {}
    for index, image in enumerate(_section(path, data, "images")):
        where = _where(path, "image", image, index, ("id", "file_name", "width", "height"))
        if image["id"] in images:
            raise DataError(path, f"{where}: duplicate image id")
        extra = image.get(EXTRA_BRANDS, [])
        if not isinstance(extra, list) or any(b not in brands for b in extra):
            raise DataError(path, f"{where}: {EXTRA_BRANDS} must list category names, got {extra!r}")
        images[image["id"]] = {"where": where, "info": image, "boxes": [], "brands": list(extra)}
    for index, annotation in enumerate(_section(path, data, "annotations")):
        where = _where(path, "annotation", annotation, index, ("image_id", "category_id", "bbox"))
        if not _is_id(annotation["image_id"]) or annotation["image_id"] not in images:
            raise DataError(path, f"{where}: unknown image_id {annotation['image_id']!r}")
        if not _is_id(annotation["category_id"]) or annotation["category_id"] not in category_of:
            raise DataError(path, f"{where}: unknown category_id {annotation['category_id']!r}")
        box = _xyxy(path, where, annotation["bbox"], category_of[annotation["category_id"]])
        if box is not None:
            images[annotation["image_id"]]["boxes"].append((box, where))
        images[annotation["image_id"]]["brands"].append(category_of[annotation["category_id"]])
    records = [record for entry in images.values() if (record := _record(path, folders, entry)) is not None]
    if not records:
        raise DataError(path, "no usable images in the file")
    return LogoDataset(tuple(records), brands=tuple(brands), name=path.stem)


def write_coco(dataset: LogoDataset, json_path: str | Path, images_dir: str | Path | None = None) -> Path:
    """Write ``dataset`` as COCO JSON, atomically and deterministically (same dataset, same bytes).

    ``file_name`` is relative to ``images_dir`` (default: the JSON file's folder), or absolute for
    images outside it. Ids run from 1 in dataset order; every brand of ``dataset.brands`` becomes
    a category, used or not, so reading the file back restores the same class ids.
    """
    path = Path(json_path)
    base = Path(images_dir) if images_dir is not None else path.parent
    images, annotations = [], []
    for image_id, record in enumerate(dataset, start=1):
        entry: dict[str, Any] = {"id": image_id, "file_name": _file_name(record.path, base), "width": record.width, "height": record.height}
        unboxed = sorted(set(record.brands) - {box.brand for box in record.boxes})
        if unboxed:
            entry[EXTRA_BRANDS] = unboxed
        images.append(entry)
        for box in record.boxes:
            x, y = float(box.x1), float(box.y1)
            w, h = _span(x, float(box.x2)), _span(y, float(box.y2))
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": dataset.brand_index(box.brand) + 1,
                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
            })
    categories = [{"id": i, "name": name} for i, name in enumerate(dataset.brands, start=1)]
    return atomic_write_json(path, {"images": images, "annotations": annotations, "categories": categories})


def is_coco_file(path: Path) -> bool:
    """Cheap check used by format detection: a JSON object mentioning ``images`` and ``categories``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return text.lstrip().startswith("{") and '"images"' in text and '"categories"' in text


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(path, "annotation file not found" if not path.exists() else "is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise DataError(path, f"not a UTF-8 text file (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    if not isinstance(data, dict):
        raise DataError(path, f"expected a COCO JSON object, got a {type(data).__name__}")
    for key in ("images", "categories"):
        if key not in data:
            raise DataError(path, f"missing key {key!r}: not a COCO detection file")
    return data


def _section(path: Path, data: dict, key: str) -> list:
    if not isinstance(data.get(key, []), list):
        raise DataError(path, f"{key!r} must be a list")
    return data.get(key, [])


def _categories(path: Path, data: dict) -> tuple[list[str], dict[Any, str]]:
    brands: list[str] = []
    category_of: dict[Any, str] = {}
    for index, category in enumerate(_section(path, data, "categories")):
        where = _where(path, "category", category, index, ("name",))
        name = category["name"]
        if not isinstance(name, str) or not name or name.lower() == NO_LOGO:
            raise DataError(path, f"{where}: invalid brand name {name!r} ({NO_LOGO!r} is reserved for no-logo images)")
        if category["id"] in category_of or name in brands:
            raise DataError(path, f"{where}: duplicate category id or name {name!r}")
        category_of[category["id"]] = name
        brands.append(name)
    return brands, category_of


def _where(path: Path, kind: str, item: Any, index: int, keys: tuple[str, ...]) -> str:
    """``annotation id 7`` (or ``annotations[3]`` without an id), after checking required keys."""
    if not isinstance(item, dict):
        raise DataError(path, f"{kind}s[{index}]: expected an object, got {item!r}")
    if not _is_id(item.get("id")):
        raise DataError(path, f"{kind}s[{index}]: missing or invalid key 'id'")
    where = f"{kind} id {item['id']}"
    missing = [key for key in keys if key not in item]
    if missing:
        raise DataError(path, f"{where}: missing key {missing[0]!r}")
    return where


def _xyxy(path: Path, where: str, bbox: Any, brand: str) -> Box | None:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise DataError(path, f"{where}: bbox must be 4 numbers [x, y, width, height], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise DataError(path, f"{where}: bbox {bbox} has a negative width or height")
    if w == 0 or h == 0:
        warnings.warn(f"{path}: {where}: zero-area box of {brand} dropped", LogolensWarning, stacklevel=3)
        return None
    return Box(x, y, x + w, y + h, brand)


def _is_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _record(path: Path, folders: list[Path], entry: dict) -> ImageRecord | None:
    info, where = entry["info"], entry["where"]
    if not isinstance(info["file_name"], str) or not info["file_name"]:
        raise DataError(path, f"{where}: invalid file_name {info['file_name']!r}")
    image = next((folder / info["file_name"] for folder in folders if (folder / info["file_name"]).exists()), None)
    if image is None:
        raise DataError(path, f"{where}: image {info['file_name']!r} not found in {' or '.join(map(str, folders))}")
    size = size_or_warn(image, f"{path}: {where}")
    if size is None:
        return None
    if (info["width"], info["height"]) != size:
        stated = f"{info['width']}x{info['height']}"
        raise DataError(path, f"{where}: width x height {stated} disagrees with the {size[0]}x{size[1]} image {image}")
    boxes = tuple(fit_box(box, size, path, None, annotation) for box, annotation in entry["boxes"])
    return ImageRecord(image, size[0], size[1], boxes, brands=tuple(entry["brands"]))


def _file_name(image: Path, base: Path) -> str:
    try:
        return image.absolute().relative_to(base.absolute()).as_posix()
    except ValueError:
        return image.absolute().as_posix()


def _span(start: float, end: float) -> float:
    """A width ``w`` with ``start + w == end`` exactly, so ``xywh`` reads back as the same ``xyxy``
    (plain ``end - start`` can be off by one unit in the last place)."""
    span = end - start
    for _ in range(4):
        if start + span == end:
            return span
        span = math.nextafter(span, math.inf if start + span < end else -math.inf)
    return end - start
