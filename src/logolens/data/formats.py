"""One entry point for every dataset layout logolens reads, with format auto-detection.

Detection looks only at names and the first data line, never at the whole dataset, so it is
instant; the chosen loader then validates everything. The rules, in order:

* a ``.json`` file: ``coco``;
* a text file whose first data line is ``filename<TAB>brand``: ``flickr27-query``; one with 7
  whitespace-separated fields: ``flickr27``;
* a folder holding the FlickrLogos-27 training (else query) annotation file: that file;
* a folder holding ``classes/jpg`` or ``jpg`` and ``masks``: ``flickr32``;
* a folder holding exactly one ``*.json`` that looks like COCO: ``coco``;
* a folder with sub-folders of images: ``folders``.
"""

from __future__ import annotations

from pathlib import Path

from logolens.data.coco import is_coco_file, read_coco
from logolens.data.dataset import LogoDataset
from logolens.data.flickr27 import QUERY_FILE, TRAINING_FILE, read_query_annotations, read_training_annotations
from logolens.data.flickr32 import read_flickr32
from logolens.data.folders import brand_folders, image_files, read_folders
from logolens.errors import DataError
from logolens.utils import unknown_choice_message

FORMATS = ("flickr27", "flickr27-query", "flickr32", "folders", "coco")
"""Dataset layouts :func:`load_dataset` reads; pass one as ``format`` to skip detection."""

_USES_IMAGES_DIR = ("flickr27", "flickr27-query", "coco")


def load_dataset(path: str | Path, format: str = "auto", images_dir: str | Path | None = None) -> LogoDataset:
    """Load the dataset at ``path`` (a file or folder) in ``format``, or the detected one.

    ``images_dir`` overrides where annotation-file formats (flickr27, flickr27-query, coco) look
    for images; folder formats find their images themselves. Raises ``ValueError`` for an unknown
    format name and :class:`DataError` for a missing path or a layout that cannot be recognised.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(unknown_choice_message("format", format, ("auto", *FORMATS)))
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if format == "auto":
        format, path = detect_format(path)
    elif path.is_dir() and format in _USES_IMAGES_DIR:
        path = _annotation_in(path, format)
    if images_dir is not None and format not in _USES_IMAGES_DIR:
        raise ValueError(f"images_dir applies to {', '.join(_USES_IMAGES_DIR)} only; {format} finds its images itself")
    if format == "flickr27":
        return read_training_annotations(path, images_dir)
    if format == "flickr27-query":
        return read_query_annotations(path, images_dir)
    if format == "coco":
        return read_coco(path, images_dir)
    if format == "flickr32":
        return read_flickr32(path)
    return read_folders(path)


def detect_format(path: str | Path) -> tuple[str, Path]:
    """``(format, path to load)`` for an existing file or folder; :class:`DataError` if unknown."""
    path = Path(path)
    if path.is_file():
        return _detect_file(path), path
    if (path / TRAINING_FILE).is_file():
        return "flickr27", path / TRAINING_FILE
    if (path / QUERY_FILE).is_file():
        return "flickr27-query", path / QUERY_FILE
    if (path / "classes" / "jpg").is_dir() or ((path / "jpg").is_dir() and (path / "masks").is_dir()):
        return "flickr32", path
    coco = _coco_files(path)
    if len(coco) == 1:
        return "coco", coco[0]
    if len(coco) > 1:
        names = ", ".join(p.name for p in coco)
        raise DataError(path, f"several COCO files ({names}): pass the one to load instead of the folder")
    if any(next(image_files(folder), None) is not None for folder in brand_folders(path)):
        return "folders", path
    raise DataError(
        path,
        f"cannot tell the dataset format: no {TRAINING_FILE} (flickr27), no classes/jpg (flickr32), "
        f"no COCO *.json (coco), no sub-folders with images (folders); "
        f"pass --format (format= in Python) with one of: {', '.join(FORMATS)}",
    )


def _detect_file(path: Path) -> str:
    if path.suffix.lower() == ".json":
        return "coco"
    line = _first_data_line(path)
    if line is not None and len(line.strip().split("\t")) == 2:
        return "flickr27-query"
    if line is not None and len(line.split()) == 7:
        return "flickr27"
    raise DataError(
        path,
        "cannot tell the annotation format: expected a .json file (coco), 'filename<TAB>brand' lines "
        "(flickr27-query) or 'filename brand subset x1 y1 x2 y2' lines (flickr27); "
        f"pass --format (format= in Python) with one of: {', '.join(FORMATS)}",
    )


def _first_data_line(path: Path) -> str | None:
    """The first non-blank, non-comment line, reading only as far as needed (``None`` if binary)."""
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip() and not line.lstrip().startswith("#"):
                    return line
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _coco_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith(".") and is_coco_file(p))


def _annotation_in(folder: Path, format: str) -> Path:
    """The annotation file inside ``folder`` for an explicitly named annotation-file format."""
    if format == "coco":
        found = _coco_files(folder)
        if len(found) != 1:
            raise DataError(folder, f"expected exactly one COCO *.json in the folder, found {len(found)}: pass the file itself")
        return found[0]
    name = TRAINING_FILE if format == "flickr27" else QUERY_FILE
    if not (folder / name).is_file():
        raise DataError(folder, f"no {name} in the folder: pass the {format} annotation file itself")
    return folder / name
