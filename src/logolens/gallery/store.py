"""``BrandGallery``: the brands a model knows by example, stored in its model folder.

A gallery holds *raw* brand embeddings (:mod:`logolens.models.brand_embedding`), one row per
exemplar view, each with its brand, its source and where it came from:

* ``trained`` rows are the model's own training crops. They are what an enrolled brand is
  compared against ("is this nearer to a brand the model was trained on?"), and what the
  whitening and the open-set calibration are learned from.
* ``gallery`` rows are enrolled examples of new brands (``logolens brands add``).

Raw vectors (not whitened ones) are stored so that a gallery exported from one model can be
imported into another made with the same embedding: each model projects with its own whitening.
The embedding's identity is stored too and checked on load and import; a gallery from another
embedding is refused. The file (``gallery.npz``) is written atomically, holds no pickled objects,
and saving the same gallery twice gives the same bytes.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from logolens.data.crops import CropSample
from logolens.errors import GalleryError
from logolens.gallery.index import build_index
from logolens.gallery.matching import OpenSetCalibration, brand_similarities, decide
from logolens.gallery.projection import Whitening
from logolens.utils import atomic_write, unknown_choice_message

GALLERY_FILE = "gallery.npz"
FORMAT_VERSION = 1
SOURCES = ("trained", "gallery")
UNKNOWN = "unknown"
RESERVED_NAMES = (UNKNOWN, "none", "no-logo")
_ARRAYS = ("vectors", "brands", "sources", "origins", "mean", "scale", "matrix")


def origin(sample: CropSample, view: int) -> str:
    """``photo.jpg [x1,y1,x2,y2] view 2``: where an exemplar vector came from."""
    box = f" [{','.join(f'{v:g}' for v in sample.box)}]" if sample.box is not None else ""
    return f"{Path(sample.path).name}{box} view {view}"


def crop_of(origin_text: str) -> str:
    """The crop an exemplar vector came from: its origin without the view."""
    return origin_text.rsplit(" view ", 1)[0]


def image_of(origin_text: str) -> str:
    """The image file an exemplar vector came from: its origin without box and view."""
    return crop_of(origin_text).split(" [", 1)[0]


def check_brand_name(name: str) -> str:
    """The brand name, stripped; refuses empty, reserved and unprintable names with one line."""
    stripped = str(name).strip()
    if not stripped:
        raise GalleryError("the brand name is empty")
    if stripped.lower() in RESERVED_NAMES:
        raise GalleryError(f"{stripped!r} is reserved (it means no or an unrecognised logo); choose another brand name")
    if re.search(r"[\x00-\x1f\x7f]", stripped) or len(stripped) > 200:
        raise GalleryError(f"brand name {stripped[:40]!r} has control characters or is longer than 200 characters")
    return stripped


class BrandGallery:
    """Exemplar embeddings per brand plus what matching them needs (whitening, calibration).

    Immutable in use: :meth:`add`, :meth:`remove`, :meth:`exported` and :meth:`imported` return
    a new gallery; :meth:`save` writes it.
    """

    def __init__(
        self, embedder: str, vectors: np.ndarray, brands: Sequence[str], sources: Sequence[str], origins: Sequence[str],
        projection: Whitening | None = None, calibration: OpenSetCalibration | None = None, views: int = 0,
    ):
        self.embedder = embedder
        self.views = int(views)  # augmented views per crop, for exemplars and queries alike
        self.vectors = np.asarray(vectors, np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(brands):
            raise ValueError(f"vectors must be (one per brand entry, dimension), got {self.vectors.shape} for {len(brands)} entries")
        self.brands = np.asarray(brands, dtype=str)
        self.sources = np.asarray(sources, dtype=str)
        self.origins = np.asarray(origins, dtype=str)
        if not len(self.brands) == len(self.sources) == len(self.origins):
            raise ValueError("brands, sources and origins must have one entry per vector")
        if len(self.sources) and not np.isin(self.sources, SOURCES).all():
            raise ValueError(f"sources must be one of {SOURCES}")
        self.projection = projection or Whitening.identity(self.vectors.shape[1])
        self.calibration = calibration or OpenSetCalibration()
        self.index_dir: Path | None = None  # where approximate indexes are kept (the gallery file's folder, once loaded)
        self._matcher = None

    def __len__(self) -> int:
        return len(self.brands)

    # -- what it holds ---------------------------------------------------------------------
    def _brands_of(self, source: str) -> list[str]:
        return list(dict.fromkeys(self.brands[self.sources == source].tolist()))

    @property
    def trained_brands(self) -> list[str]:
        return self._brands_of("trained")

    @property
    def enrolled_brands(self) -> list[str]:
        return self._brands_of("gallery")

    def summary(self) -> list[dict]:
        """One row per brand: name, source, exemplar vectors and distinct example images."""
        rows = []
        for source in SOURCES:
            for brand in self._brands_of(source):
                mask = (self.brands == brand) & (self.sources == source)
                images = {image_of(text) for text in self.origins[mask]}
                rows.append({"brand": brand, "source": source, "exemplars": int(mask.sum()), "images": len(images)})
        return rows

    def _with_rows(self, keep: np.ndarray, vectors=None, brands=(), sources=(), origins=()) -> BrandGallery:
        extra = np.asarray(vectors, np.float32).reshape(len(brands), self.vectors.shape[1]) if len(brands) else self.vectors[:0]
        return BrandGallery(
            self.embedder, np.concatenate([self.vectors[keep], extra]), [*self.brands[keep], *brands],
            [*self.sources[keep], *sources], [*self.origins[keep], *origins], self.projection, self.calibration, self.views,
        )

    # -- changes ---------------------------------------------------------------------------
    def add(self, brand: str, vectors: np.ndarray, origins: Sequence[str]) -> BrandGallery:
        """Enrol ``brand`` from raw embeddings (or add examples to an enrolled brand)."""
        brand = check_brand_name(brand)
        if brand in self.trained_brands:
            raise GalleryError(f"{brand!r} is one of the model's trained brands; enrol new brands only")
        vectors = np.asarray(vectors, np.float32)
        if len(vectors) == 0:
            raise GalleryError(f"no example images for brand {brand!r}")
        if vectors.shape[1] != self.vectors.shape[1]:
            raise GalleryError(f"embeddings of {vectors.shape[1]} values do not fit this gallery's {self.vectors.shape[1]}")
        return self._with_rows(np.ones(len(self), bool), vectors, [brand] * len(vectors), ["gallery"] * len(vectors), list(origins))

    def remove(self, brand: str) -> BrandGallery:
        if brand in self.trained_brands and brand not in self.enrolled_brands:
            raise GalleryError(f"{brand!r} is a trained brand, part of the model itself; only enrolled brands can be removed")
        if brand not in self.enrolled_brands:
            raise GalleryError(unknown_choice_message("enrolled brand", brand, self.enrolled_brands) if self.enrolled_brands
                               else f"no brand {brand!r}: nothing is enrolled in this gallery")
        return self._with_rows(~((self.brands == brand) & (self.sources == "gallery")))

    def exported(self, brands: Sequence[str] | None = None) -> BrandGallery:
        """A gallery of the enrolled brands only (all, or ``brands``): what another model imports."""
        chosen = list(brands) if brands else self.enrolled_brands
        for brand in chosen:
            if brand not in self.enrolled_brands:
                raise GalleryError(unknown_choice_message("enrolled brand", brand, self.enrolled_brands))
        return self._with_rows((self.sources == "gallery") & np.isin(self.brands, chosen))

    def imported(self, other: BrandGallery, replace: bool = False) -> BrandGallery:
        """This gallery plus ``other``'s enrolled brands. An enrolled brand of the same name is
        refused unless ``replace``; a name of a trained brand always is."""
        if other.embedder != self.embedder or other.views != self.views:
            raise GalleryError(f"the gallery was made with embedding {other.embedder!r} and {other.views} views per crop, this model "
                               f"uses {self.embedder!r} and {self.views}; re-enrol the brands")
        incoming = other.enrolled_brands
        for brand in incoming:
            check_brand_name(brand)
            if brand in self.trained_brands:
                raise GalleryError(f"{brand!r} is one of the model's trained brands; rename it before importing")
            if brand in self.enrolled_brands and not replace:
                raise GalleryError(f"brand {brand!r} is already enrolled; remove it first or import with --replace")
        keep = ~((self.sources == "gallery") & np.isin(self.brands, incoming))
        rows = other.sources == "gallery"
        return self._with_rows(keep, other.vectors[rows], list(other.brands[rows]), ["gallery"] * int(rows.sum()), list(other.origins[rows]))

    # -- matching --------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Every brand (trained first, then enrolled), the columns of :meth:`match` scores."""
        return list(dict.fromkeys([*self.trained_brands, *self.enrolled_brands]))

    def match(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Match raw query embeddings ``(Q, D)``: ``similarities`` ``(Q, B)`` per brand of
        :attr:`names`, and the decisions of :func:`~logolens.gallery.matching.decide` (``best``
        is a column of :attr:`names`; ``enrolled_distribution`` follows :attr:`enrolled_brands`)."""
        if self._matcher is None:  # one index for the trained references, one for the enrolled exemplars
            names, trained = self.names, set(self.trained_brands)
            column = {name: i for i, name in enumerate(names)}
            projected = self.projection(self.vectors)
            parts = [(build_index(projected[rows], cache_dir=self.index_dir, name=source), np.array([column[b] for b in self.brands[rows]], np.int64))
                     for source, rows in ((s, self.sources == s) for s in SOURCES)]
            self._matcher = (parts, np.array([name not in trained for name in names], bool))
        parts, enrolled = self._matcher
        similarities = brand_similarities(parts, self.projection(vectors), len(enrolled))
        return {"similarities": similarities, **decide(similarities, enrolled, self.calibration)}

    # -- storage ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        meta = {"format_version": FORMAT_VERSION, "embedder": self.embedder, "views": self.views,
                "calibration": self.calibration.to_json()}
        arrays = {"vectors": self.vectors, "brands": self.brands, "sources": self.sources, "origins": self.origins,
                  "mean": self.projection.mean, "scale": self.projection.scale, "matrix": self.projection.matrix}

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path, embedder: str | None = None) -> BrandGallery:
        """Read a gallery file; ``embedder``: the identity the caller's model uses (refused if different)."""
        path = Path(path)
        if not path.is_file():
            raise GalleryError(f"{path}: no such gallery file")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in _ARRAYS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise GalleryError(f"{path}: not a readable logolens gallery ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
            raise GalleryError(f"{path}: gallery format {meta.get('format_version') if isinstance(meta, dict) else None!r} is not supported; upgrade logolens")
        if embedder is not None and meta.get("embedder") != embedder:
            raise GalleryError(f"{path}: made with embedding {meta.get('embedder')!r}, but this model uses {embedder!r}; re-enrol the brands")
        try:
            projection = Whitening(arrays["mean"], arrays["scale"], arrays["matrix"])
            gallery = cls(meta["embedder"], arrays["vectors"], arrays["brands"], arrays["sources"], arrays["origins"], projection,
                          OpenSetCalibration.from_json(meta.get("calibration", {})), int(meta.get("views", 0)))
        except (KeyError, TypeError, ValueError) as error:
            raise GalleryError(f"{path}: inconsistent gallery ({error})") from None
        gallery.index_dir = path.parent
        return gallery
