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


def expand_inputs(inputs: Sequence[str | Path]) -> Iterator[Path | DataError]:
    """Files as given, folders as their image files (recursively, sorted); a missing path or a
    folder without images yields a :class:`DataError` in its place."""
    for item in inputs:
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
    detector: LogoDetector, inputs: Sequence[str | Path], min_score: float | None = None, max_results: int | None = None,
    ocr: bool = False,
) -> Iterator[tuple[ImageDetections | DataError, Image.Image | None]]:
    """``(result or error, decoded image or None)`` for every image of ``inputs``, in order
    (``ocr``: see :meth:`LogoDetector.detect`)."""
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


def write_annotated(image: Image.Image, result: ImageDetections, out_dir: str | Path, annotator=None) -> Path:
    """``out_dir/<image file name>`` with the detections drawn (written atomically)."""
    from logolens.inference.annotate import BoxAnnotator

    annotated = (annotator or BoxAnnotator()).annotate(image, result.detections)
    name = Path(result.path).name
    target = Path(out_dir) / name
    image_format = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    if image_format not in ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF"):
        target, image_format = target.with_suffix(".png"), "PNG"
    return atomic_write(target, lambda tmp: annotated.save(tmp, format=image_format))
