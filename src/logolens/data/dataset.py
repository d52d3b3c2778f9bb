"""The in-memory dataset model every loader produces and every trainer consumes.

Coordinates are pixels of the image as stored on disk (no EXIF rotation applied), ``xyxy`` with
``(x1, y1)`` the top-left corner and ``(x2, y2)`` the bottom-right one, so ``x2 - x1`` is the box
width. A record with no brands is a no-logo image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from logolens.utils import unknown_choice_message

NO_LOGO = "none"
"""Image-level label of a photo without any logo (as in the FlickrLogos query sets)."""


@dataclass(frozen=True)
class Box:
    """One logo instance: a brand name and its ``xyxy`` pixel box."""

    x1: float
    y1: float
    x2: float
    y2: float
    brand: str

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class ImageRecord:
    """One image with its logo boxes and image-level brand labels.

    ``brands`` is the sorted set of brands shown in the image. Datasets with boxes derive it from
    the boxes; layouts without boxes (folder per brand, query sets) give it directly. An empty
    ``brands`` marks a no-logo image. ``width``/``height`` are the stored pixel size.
    """

    path: Path
    width: int
    height: int
    boxes: tuple[Box, ...] = ()
    brands: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "boxes", tuple(self.boxes))
        brands = set(self.brands) | {box.brand for box in self.boxes}
        if NO_LOGO in brands:
            raise ValueError(f"{self.path}: {NO_LOGO!r} is reserved for no-logo images, not a brand")
        object.__setattr__(self, "brands", tuple(sorted(brands)))

    @property
    def has_logo(self) -> bool:
        return bool(self.brands)

    @property
    def box_xyxy(self) -> np.ndarray:
        """The boxes as one ``(M, 4)`` float64 array of ``xyxy`` pixels (``(0, 4)`` without boxes)."""
        return np.array([box.xyxy for box in self.boxes], dtype=np.float64).reshape(-1, 4)

    @property
    def primary_brand(self) -> str:
        """The brand with the most boxes (ties: alphabetical), or ``none``; used to stratify."""
        if not self.brands:
            return NO_LOGO
        counts = Counter(box.brand for box in self.boxes)
        return min(self.brands, key=lambda brand: (-counts[brand], brand))


@dataclass(frozen=True)
class LogoDataset:
    """An ordered, immutable collection of :class:`ImageRecord` with a fixed brand vocabulary.

    ``brands`` fixes the class order (index = class id). Subsets keep the parent's vocabulary so
    that train, validation and test share one label space.
    """

    records: tuple[ImageRecord, ...]
    brands: tuple[str, ...] = ()
    name: str = "dataset"

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        present = sorted({brand for record in self.records for brand in record.brands})
        if not self.brands:
            object.__setattr__(self, "brands", tuple(present))
        else:
            object.__setattr__(self, "brands", tuple(self.brands))
            missing = sorted(set(present) - set(self.brands))
            if missing:
                raise ValueError(f"dataset {self.name!r}: brands {missing} are not in its brand list")
        if len(set(self.brands)) != len(self.brands):
            raise ValueError(f"dataset {self.name!r}: duplicate brand names in {list(self.brands)}")

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> ImageRecord:
        return self.records[index]

    def subset(self, indices: Iterable[int], name: str | None = None) -> LogoDataset:
        """The records at ``indices`` (in that order), with this dataset's brand list."""
        return replace(self, records=tuple(self.records[i] for i in indices), name=name or self.name)

    def image_level(self) -> LogoDataset:
        """The same images, each labelled with its primary brand only and no boxes: whole-image
        classification, as in the original post, which sorted whole photos into brand folders.
        Keeping the primary brand keeps every image in the same stratum of a split."""
        records = tuple(replace(record, boxes=(), brands=(record.primary_brand,) if record.has_logo else ())
                        for record in self.records)
        return replace(self, records=records, name=f"{self.name}-images")

    @property
    def n_boxes(self) -> int:
        return sum(len(record.boxes) for record in self.records)

    def brand_index(self, brand: str) -> int:
        """Class id of ``brand``; an unknown brand raises ``ValueError`` listing close matches."""
        try:
            return self.brands.index(brand)
        except ValueError:
            raise ValueError(unknown_choice_message("brand", brand, self.brands)) from None

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per brand (and ``none``): ``(images, boxes)``. An image counts once per brand it shows."""
        images: Counter[str] = Counter()
        boxes: Counter[str] = Counter()
        for record in self.records:
            images.update(record.brands or (NO_LOGO,))
            boxes.update(box.brand for box in record.boxes)
        names: Sequence[str] = list(self.brands) + ([NO_LOGO] if images[NO_LOGO] else [])
        return {name: (images[name], boxes[name]) for name in names}
