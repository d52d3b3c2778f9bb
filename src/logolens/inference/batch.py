"""Detection over many images and folders: one result per image, bad files reported, never fatal.

``logolens detect`` and batch jobs call :func:`detect_images`; each image yields either an
:class:`ImageDetections` or the :class:`~logolens.errors.DataError` that explains why it was
skipped (missing, corrupt, empty, too large, not an image), so one bad file never stops a batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from logolens.data.images import is_image_file, load_image
from logolens.detections import Detections
from logolens.errors import DataError
from logolens.utils import atomic_write

if TYPE_CHECKING:
    from logolens.detector import LogoDetector

OUTPUT_FORMATS = ("json", "vision")


@dataclass(frozen=True)
class ImageDetections:
    path: str  # as given (or found in a given folder)
    width: int  # pixels of the image as stored
    height: int
    detections: Detections  # best first, boxes in the image's pixels

    def to_json(self, format: str = "json") -> dict:
        """``json``: ``{"image", "width", "height", "logos": [{"brand", "score", "box", "source"}]}``;
        ``vision``: a Google Cloud Vision ``AnnotateImageResponse`` with ``logoAnnotations`` and
        the image path as ``context.uri``."""
        if format == "json":
            return {"image": self.path, "width": self.width, "height": self.height, "logos": self.detections.to_json()}
        if format == "vision":
            return {"logoAnnotations": self.detections.to_vision(), "context": {"uri": self.path}}
        raise ValueError(f"unknown output format {format!r}; choose from: {', '.join(OUTPUT_FORMATS)}")


def expand_inputs(inputs: Sequence[str | Path | DataError]) -> Iterator[Path | DataError]:
    """Files as given, folders as their image files (recursively, sorted); a missing path or a
    folder without images yields a :class:`DataError` in its place. Errors in ``inputs`` pass
    through, so expanding an expanded list changes nothing (a batch walks its folders once)."""
    for item in inputs:
        if isinstance(item, DataError):
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if is_image_file(p))
            if not files:
                yield DataError(path, "folder has no image files")
            yield from files
        elif path.exists():
            yield path
        else:
            yield DataError(path, "no such file or folder")


def detect_images(
    detector: LogoDetector, inputs: Sequence[str | Path | DataError], min_score: float | None = None, max_results: int | None = None,
    ocr: bool = False,
) -> Iterator[tuple[ImageDetections | DataError, Image.Image | None]]:
    """``(result or error, decoded image or None)`` for every image of ``inputs`` (paths, or
    :func:`expand_inputs` already applied), in order (``ocr``: see :meth:`LogoDetector.detect`)."""
    for path in expand_inputs(inputs):
        if isinstance(path, DataError):
            yield path, None
            continue
        try:
            image = load_image(path)
        except DataError as error:
            yield error, None
            continue
        detections = detector.detect(image, min_score=min_score, max_results=max_results, ocr=ocr)
        yield ImageDetections(str(path), image.width, image.height, detections), image


class AnnotatedCopies:
    """Copies of a batch's images with their detections drawn, all in one folder
    (``logolens detect --annotate DIR``), each named after its image's file.

    Names never collide and no input is ever overwritten: a second image of the same name (from
    another folder) becomes ``name-2.jpg``, ``name-3.jpg``..., and so does a copy whose name is
    one of the batch's own images (``DIR`` is, or holds, the photos' folder). Each copy is written
    atomically. A file in ``DIR`` from an earlier run is replaced, as a rerun should.
    """

    def __init__(self, out_dir: str | Path, inputs: Sequence[str | Path | DataError] = (), annotator=None):
        self.out_dir = Path(out_dir)
        self.annotator = annotator
        self._inputs = {path.resolve() for path in expand_inputs(inputs) if isinstance(path, Path)}
        self._written: set[Path] = set()

    def target(self, image_path: str | Path) -> tuple[Path, str]:
        """Where the copy of ``image_path`` goes, and its PIL format (PNG unless the name's own
        format is a common one PIL writes)."""
        target = self.out_dir / Path(image_path).name
        image_format = Image.registered_extensions().get(target.suffix.lower(), "PNG")
        if image_format not in ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF"):
            target, image_format = target.with_suffix(".png"), "PNG"
        stem, number = target.stem, 1
        while target.resolve() in self._written or target.resolve() in self._inputs:
            number += 1
            target = target.with_name(f"{stem}-{number}{target.suffix}")
        return target, image_format

    def write(self, image: Image.Image, result: ImageDetections) -> Path:
        from logolens.inference.annotate import BoxAnnotator

        annotated = (self.annotator or BoxAnnotator()).annotate(image, result.detections)
        target, image_format = self.target(result.path)
        self._written.add(target.resolve())
        return atomic_write(target, lambda tmp: annotated.save(tmp, format=image_format))
