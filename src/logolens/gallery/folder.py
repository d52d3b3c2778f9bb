"""Brand gallery operations on a model folder: what ``logolens brands`` and the Python API call.

The gallery lives beside the model as ``DIR/gallery.npz``, so ``classify``/``detect --model DIR``
use enrolled brands at once. Training writes it with the trained brands' references
(:func:`~logolens.gallery.enrol.reference_gallery`); every change rewrites it atomically, so an
interrupted or failed enrolment leaves the previous gallery intact.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from logolens.data.crops import CropSample
from logolens.data.images import load_image
from logolens.errors import DataError, GalleryError, LogolensWarning
from logolens.gallery.store import GALLERY_FILE, BrandGallery
from logolens.models.brand_embedding import embedder_id
from logolens.models.storage import read_manifest


def gallery_path(model_dir: str | Path) -> Path:
    return Path(model_dir) / GALLERY_FILE


def _stored_gallery(model_dir: str | Path, required: bool) -> BrandGallery | None:
    """The gallery file of a model folder as stored, whatever embedding made it."""
    read_manifest(model_dir)  # a model folder at all, readable
    path = gallery_path(model_dir)
    if not path.is_file():
        if not required:
            return None
        raise GalleryError(f"{model_dir}: no brand gallery; models trained with this logolens have one, "
                           f"or build it with 'logolens brands init --model {model_dir} --data TRAINING_DATA'")
    return BrandGallery.load(path)


def open_gallery(model_dir: str | Path, required: bool = True) -> BrandGallery | None:
    """The gallery of a model folder, checked against the embedding this logolens computes.

    With ``required=False`` (recognition), a gallery of another embedding that holds only the
    trained brands' references counts as none: it has nothing to add to the trained answers, and
    the model keeps classifying. One with enrolled brands is refused: they would go unrecognised.
    """
    gallery = _stored_gallery(model_dir, required)
    if gallery is None or gallery.embedder == embedder_id():
        return gallery
    if not required and not gallery.enrolled_brands:
        return None
    raise GalleryError(f"{gallery_path(model_dir)}: made with embedding {gallery.embedder!r}, but this logolens uses {embedder_id()!r}; "
                       f"rebuild it with 'logolens brands init --model {model_dir}' and enrol the brands again")


def enrol_brand(model_dir: str | Path, brand: str, images: Sequence[str | Path], boxes: Sequence | None = None,
                cache=None, progress: bool = False) -> dict:
    """Enrol ``brand`` from example images (each optionally cut to ``boxes[i]``, else whole),
    each in the gallery's number of augmented views; returns the brand's summary row."""
    from logolens.gallery.enrol import embed_examples
    from logolens.gallery.store import check_brand_name

    brand = check_brand_name(brand)
    gallery = open_gallery(model_dir)
    if not images:
        raise GalleryError(f"no example images given for brand {brand!r}")
    boxes = list(boxes) if boxes is not None else [None] * len(images)
    if len(boxes) != len(images):
        raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
    samples = []
    for image, box in zip(images, boxes):  # every example readable and its box inside, before anything is computed
        picture = load_image(image)
        if box is not None:
            box = tuple(float(v) for v in box)
            inside = max(0.0, min(box[2], picture.width) - max(box[0], 0.0)) * max(0.0, min(box[3], picture.height) - max(box[1], 0.0))
            if not (box[2] > box[0] and box[3] > box[1]) or inside < 0.5 * (box[2] - box[0]) * (box[3] - box[1]):
                raise DataError(image, f"box {list(box)} is empty or mostly outside the {picture.width}x{picture.height} image")
        samples.append(CropSample(Path(image), box, brand))
    vectors, origins = embed_examples(samples, gallery.views, cache=cache, progress=progress)
    gallery = gallery.add(brand, vectors, origins)
    gallery.save(gallery_path(model_dir))
    return next(row for row in gallery.summary() if row["brand"] == brand and row["source"] == "gallery")


def remove_brand(model_dir: str | Path, brand: str) -> None:
    open_gallery(model_dir).remove(brand).save(gallery_path(model_dir))


def export_brands(model_dir: str | Path, out: str | Path, brands: Sequence[str] | None = None) -> BrandGallery:
    exported = open_gallery(model_dir).exported(brands)
    if not exported.enrolled_brands:
        raise GalleryError(f"{model_dir}: no enrolled brands to export")
    exported.save(out)
    return exported


def import_brands(model_dir: str | Path, source: str | Path, replace: bool = False) -> list[str]:
    """Import the enrolled brands of a gallery file; returns their names."""
    gallery = open_gallery(model_dir)
    incoming = BrandGallery.load(source)
    gallery.imported(incoming, replace=replace).save(gallery_path(model_dir))
    return incoming.enrolled_brands


def build_reference(model_dir: str | Path, samples: Sequence[CropSample], views: int | None = None, cache=None,
                    progress: bool = False, read_text: bool = False) -> BrandGallery:
    """(Re)write the gallery's trained references from training crops (``views`` augmented views
    each, default :data:`~logolens.gallery.enrol.VIEWS`), keeping enrolled brands (those of a
    gallery made with another embedding or number of views cannot be kept: a warning names them).
    ``read_text`` also calibrates the open set of ``--ocr`` (reads every crop's text; rapidocr)."""
    from logolens.gallery.enrol import VIEWS, reference_gallery

    reference = reference_gallery(samples, VIEWS if views is None else views, cache=cache, progress=progress, read_text=read_text)
    previous = _stored_gallery(model_dir, required=False)
    if previous is not None and previous.enrolled_brands:
        if previous.embedder == reference.embedder and previous.views == reference.views:
            reference = reference.imported(previous, replace=True)
        else:
            warnings.warn(f"{gallery_path(model_dir)}: enrolled brands {', '.join(previous.enrolled_brands)} were embedded with "
                          f"{previous.embedder!r} ({previous.views} views) and are dropped; enrol them again with 'logolens brands add'",
                          LogolensWarning, stacklevel=2)
    reference.save(gallery_path(model_dir))
    return reference
