"""FlickrLogos-32: ``classes/jpg/<brand>/*.jpg`` with boxes in ``classes/masks/<brand>/``.

Each logo image ``classes/jpg/<brand>/<name>.jpg`` has a box file
``classes/masks/<brand>/<name>.jpg.bboxes.txt`` (``<name>.bboxes.txt`` is accepted too): an
optional header ``x y width height`` then one ``x y w h`` line per box, in pixels from the
top-left corner. Boxes are converted to ``xyxy`` (``x2 = x + w``). The brand folder ``no-logo``
holds photos without a logo. An image with no box file keeps its brand as an image-level label,
so a partly annotated copy of the dataset is still usable for classification.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from logolens.data.checks import fit_box, read_lines, size_or_warn
from logolens.data.dataset import Box, ImageRecord, LogoDataset
from logolens.data.folders import brand_folders, is_no_logo_folder
from logolens.data.images import is_image_file
from logolens.errors import DataError, LogolensWarning

BOXES_SUFFIX = ".bboxes.txt"


def find_classes_dir(root: str | Path) -> Path | None:
    """The ``classes`` folder of a FlickrLogos-32 copy: ``root/classes`` or ``root`` itself."""
    root = Path(root)
    for candidate in (root / "classes", root):
        if (candidate / "jpg").is_dir():
            return candidate
    return None


def read_flickr32(root: str | Path) -> LogoDataset:
    """Load FlickrLogos-32 from the dataset root (holding ``classes/``) or the ``classes`` folder.

    Raises :class:`DataError` naming the box file and line for a malformed box line or a box
    mostly outside its image. Unreadable images are skipped with a warning; images of a brand
    without box files are kept with image-level labels and one warning per brand.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(root, "no such file or folder")
    classes = find_classes_dir(root)
    if classes is None:
        raise DataError(root, "not a FlickrLogos-32 folder: expected 'classes/jpg/<brand>/' (or 'jpg/<brand>/') inside")
    records = []
    for folder in brand_folders(classes / "jpg"):
        images = sorted(p for p in folder.iterdir() if is_image_file(p))
        if is_no_logo_folder(folder.name):
            records.extend(_no_logo_records(images))
        else:
            records.extend(_brand_records(folder.name, images, classes / "masks" / folder.name))
    if not records:
        raise DataError(classes / "jpg", "no usable images found in the brand folders")
    return LogoDataset(tuple(records), name=(classes.parent if classes.name == "classes" else classes).name)


def read_bboxes(path: Path, brand: str) -> list[tuple[Box, int]]:
    """The boxes of one ``.bboxes.txt`` file as ``(xyxy box, line number)`` pairs.

    The header line is recognised only as the first line, so a stray word later in the file is
    reported instead of silently skipped. Zero-size boxes are dropped with a warning, as in
    FlickrLogos-27; negative sizes are errors.
    """
    boxes = []
    for index, (number, fields) in enumerate(read_lines(path)):
        if index == 0 and [f.lower() for f in fields] in (["x", "y", "width", "height"], ["x", "y", "w", "h"]):
            continue
        if len(fields) != 4:
            raise DataError(path, f"expected 4 fields 'x y width height', got {len(fields)}", number)
        try:
            x, y, w, h = (float(value) for value in fields)
        except ValueError:
            raise DataError(path, f"box must be 4 numbers 'x y width height', got {' '.join(fields)!r}", number) from None
        if w < 0 or h < 0:
            raise DataError(path, f"box {' '.join(fields)!r} has a negative width or height", number)
        if w == 0 or h == 0:
            warnings.warn(f"{path}:{number}: zero-area box of {brand} dropped", LogolensWarning, stacklevel=2)
            continue
        boxes.append((Box(x, y, x + w, y + h, brand), number))
    return boxes


def _boxes_file(masks: Path, image: Path) -> Path | None:
    for name in (image.name + BOXES_SUFFIX, image.stem + BOXES_SUFFIX):
        if (masks / name).is_file():
            return masks / name
    return None


def _brand_records(brand: str, images: list[Path], masks: Path) -> list[ImageRecord]:
    records = []
    unboxed = []
    for image in images:
        boxes_file = _boxes_file(masks, image)
        if boxes_file is None:
            unboxed.append(image.name)
        size = size_or_warn(image, boxes_file)
        if size is None:
            continue
        if boxes_file is None:
            records.append(ImageRecord(image, size[0], size[1], brands=(brand,)))
            continue
        boxes = tuple(fit_box(box, size, boxes_file, number) for box, number in read_bboxes(boxes_file, brand))
        records.append(ImageRecord(image, size[0], size[1], boxes, brands=(brand,)))
    if unboxed:
        warnings.warn(
            f"{masks}: {len(unboxed)} of {len(images)} {brand} image(s) have no {BOXES_SUFFIX} file "
            f"(e.g. {unboxed[0]!r}); kept with the image-level brand only",
            LogolensWarning,
            stacklevel=3,
        )
    return records


def _no_logo_records(images: list[Path]) -> list[ImageRecord]:
    records = []
    for image in images:
        size = size_or_warn(image)
        if size is not None:
            records.append(ImageRecord(image, size[0], size[1]))
    return records
