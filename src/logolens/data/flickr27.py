"""FlickrLogos-27 annotation files: the training set (with boxes) and the query set (image labels).

Training lines read ``filename brand subset x1 y1 x2 y2`` (space separated, often with a trailing
space). Quirks of the original file, all handled here:

* the ``subset`` column (1-6) repeats boxes: an image of subset ``s`` is listed again in every
  subset ``s..6``, so only *distinct* boxes count;
* some boxes have zero area: they are dropped with a :class:`~logolens.errors.LogolensWarning`;
* an image may show two brands (one shows Cocacola and Pepsi): it is kept once, with both.

Query-set lines read ``filename<TAB>brand`` where brand ``none`` marks an image without a logo.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from logolens.data.dataset import NO_LOGO, Box, ImageRecord, LogoDataset
from logolens.data.checks import fit_box, read_lines, size_or_skip
from logolens.errors import DataError, LogolensWarning
from logolens.utils import atomic_write_text

TRAINING_FILE = "flickr_logos_27_dataset_training_set_annotation.txt"
QUERY_FILE = "flickr_logos_27_dataset_query_set_annotation.txt"
IMAGES_DIR = "flickr_logos_27_dataset_images"


def find_images_dir(annotation: Path) -> Path:
    """The dataset's image folder: ``flickr_logos_27_dataset_images`` beside the file, else the
    annotation file's own folder."""
    candidate = annotation.parent / IMAGES_DIR
    return candidate if candidate.is_dir() else annotation.parent


def read_training_annotations(annotation: str | Path, images_dir: str | Path | None = None) -> LogoDataset:
    """Load the training annotation file into a :class:`LogoDataset` of distinct boxes.

    Raises :class:`DataError` naming the file and line for a malformed line, a missing image or a
    box mostly outside its image. An unreadable image is skipped with a warning (its boxes are
    unusable but the rest of the dataset is not).
    """
    annotation = Path(annotation)
    images = Path(images_dir) if images_dir is not None else find_images_dir(annotation)
    boxes_by_image: dict[str, list[tuple[Box, int]]] = {}  # box and the line that gave it
    brands_by_image: dict[str, set[str]] = {}  # kept even when all of a brand's boxes are dropped
    first_line: dict[str, int] = {}
    seen: set[tuple] = set()
    for number, fields in read_lines(annotation):
        if len(fields) != 7:
            raise DataError(annotation, f"expected 7 fields 'filename brand subset x1 y1 x2 y2', got {len(fields)}", number)
        filename, brand, _subset, *coords = fields
        try:
            x1, y1, x2, y2 = (float(value) for value in coords)
            int(_subset)
        except ValueError:
            raise DataError(annotation, f"subset and box must be numbers, got {' '.join(fields[2:])!r}", number) from None
        if brand.lower() == NO_LOGO:
            raise DataError(annotation, f"brand {brand!r} has a box; no-logo images belong in the query set", number)
        if x2 < x1 or y2 < y1:
            raise DataError(annotation, f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has x2 < x1 or y2 < y1", number)
        key = (filename, brand, x1, y1, x2, y2)
        if key in seen:
            continue  # the subset column repeats boxes
        seen.add(key)
        if filename not in first_line:
            first_line[filename] = number
            boxes_by_image[filename] = []
            brands_by_image[filename] = set()
        brands_by_image[filename].add(brand)
        if x2 == x1 or y2 == y1:
            warnings.warn(f"{annotation}:{number}: zero-area box of {brand} in {filename} dropped", LogolensWarning, stacklevel=2)
            continue
        boxes_by_image[filename].append((Box(x1, y1, x2, y2, brand), number))

    records = []
    for filename, boxes in boxes_by_image.items():
        number = first_line[filename]
        size = size_or_skip(images / filename, annotation, number)
        if size is None:
            continue
        fitted = tuple(fit_box(box, size, annotation, line, f"{filename}") for box, line in boxes)
        records.append(ImageRecord(images / filename, size[0], size[1], fitted, brands=tuple(brands_by_image[filename])))
    if not records:
        raise DataError(annotation, "no usable annotations in the file")
    return LogoDataset(tuple(records), name=annotation.stem)


def read_query_annotations(annotation: str | Path, images_dir: str | Path | None = None) -> LogoDataset:
    """Load ``filename<TAB>brand`` lines; brand ``none`` gives a no-logo record."""
    annotation = Path(annotation)
    images = Path(images_dir) if images_dir is not None else find_images_dir(annotation)
    labels: dict[str, set[str]] = {}
    first_line: dict[str, int] = {}
    for number, fields in read_lines(annotation, tab_separated=True):
        if len(fields) != 2 or not all(fields):
            raise DataError(annotation, f"expected 'filename<TAB>brand', got {len(fields)} field(s)", number)
        filename, brand = fields
        first_line.setdefault(filename, number)
        labels.setdefault(filename, set())
        if brand.lower() != NO_LOGO:
            labels[filename].add(brand)
    records = []
    for filename, brands in labels.items():
        size = size_or_skip(images / filename, annotation, first_line[filename])
        if size is not None:
            records.append(ImageRecord(images / filename, size[0], size[1], brands=tuple(brands)))
    if not records:
        raise DataError(annotation, "no usable annotations in the file")
    return LogoDataset(tuple(records), name=annotation.stem)


def write_training_annotations(dataset: LogoDataset, path: str | Path, images_dir: str | Path | None = None) -> Path:
    """Write ``dataset``'s boxes as FlickrLogos-27 training lines (subset 1, one line per box).

    Image paths are written relative to ``images_dir`` (default: the annotation's folder's
    ``flickr_logos_27_dataset_images``); coordinates are rounded to whole pixels as in the original.
    """
    path = Path(path)
    images = Path(images_dir) if images_dir is not None else path.parent / IMAGES_DIR
    lines = []
    for record in dataset:
        name = _relative_name(record.path, images)
        for box in record.boxes:
            coords = " ".join(str(int(round(v))) for v in box.xyxy)
            lines.append(f"{name} {box.brand} 1 {coords} \n")
    return atomic_write_text(path, "".join(lines))


def _relative_name(image: Path, images_dir: Path) -> str:
    try:
        return image.relative_to(images_dir).as_posix()
    except ValueError:
        return image.name
