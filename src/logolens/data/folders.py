"""A folder per brand: ``root/<brand>/**/*.jpg``, the simplest way to bring your own photos.

Records carry image-level brands only (no boxes): enough to train and evaluate a classifier. A
folder named ``none`` or ``no-logo`` holds photos without any logo. Hidden files and folders
(``.DS_Store``, ``.ipynb_checkpoints``) are ignored, and everything is sorted so that the same
folder always gives the same dataset, whatever order the file system lists it in.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

from logolens.data.dataset import ImageRecord, LogoDataset
from logolens.data.checks import size_or_warn
from logolens.data.images import is_image_file
from logolens.errors import DataError, LogolensWarning

NO_LOGO_FOLDERS = ("none", "no-logo")
"""Folder names (any case) that mean "photos without a logo" rather than a brand."""


def is_no_logo_folder(name: str) -> bool:
    return name.lower() in NO_LOGO_FOLDERS


def image_files(folder: Path) -> Iterator[Path]:
    """Image files under ``folder`` at any depth, sorted, skipping hidden files and folders."""
    for path in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if is_image_file(path):
            yield path


def brand_folders(root: Path) -> list[Path]:
    """The non-hidden sub-folders of ``root``, sorted by name."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def read_folders(root: str | Path) -> LogoDataset:
    """Load ``root/<brand>/...`` images as records labelled with their folder's brand.

    Brands are the folder names as written (case kept), in sorted order. Raises
    :class:`DataError` when ``root`` is not a folder or holds no images in any sub-folder;
    unreadable images are skipped with a warning. Images lying directly in ``root`` have no brand
    folder, so they are ignored with one warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder" if not root.exists() else "is not a folder")
    loose = [p for p in sorted(root.iterdir()) if is_image_file(p)]
    if loose:
        warnings.warn(
            f"{root}: {len(loose)} image(s) directly in the folder ignored (e.g. {loose[0].name!r}); "
            f"put each in a brand sub-folder, or in 'none' if it shows no logo",
            LogolensWarning,
            stacklevel=2,
        )
    records = []
    found = 0
    for folder in brand_folders(root):
        brands = () if is_no_logo_folder(folder.name) else (folder.name,)
        for image in image_files(folder):
            found += 1
            size = size_or_warn(image)
            if size is not None:
                records.append(ImageRecord(image, size[0], size[1], brands=brands))
    if not found:
        raise DataError(root, f"no images found in {root} (expected one sub-folder of images per brand)")
    if not records:
        raise DataError(root, f"none of the {found} image(s) in {root} could be read")
    return LogoDataset(tuple(records), name=root.name or "folders")
