"""Deterministic synthetic logos: made-up brands, cluttered scenes, FlickrLogos-27-style folders.

Tests and the demo need labelled logo data without downloads. Each brand is a two-colour mark (a
geometric shape plus 2-4 letters); a scene pastes scaled, rotated, perspective-warped copies of the
marks onto a cluttered background and records each logo's exact box. Logos are chiral, so nothing
here ever mirrors them. All randomness comes from ``numpy.random.Generator`` objects, so the same
arguments give byte-identical files.

Boxes are ``xyxy`` pixels of the scene as in :mod:`logolens.data.dataset` (``x2`` exclusive, so
``x2 - x1`` is the width), and always whole numbers here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from logolens.data.brand_marks import (
    BRANDS_FILE, LAYOUTS, SHAPES, BrandMark, builtin_font, check_range, hsv, load_brands, make_brands, render_canonical,
)
from logolens.data.dataset import NO_LOGO, Box, ImageRecord, LogoDataset
from logolens.data.flickr27 import IMAGES_DIR, QUERY_FILE, TRAINING_FILE, read_training_annotations, write_training_annotations
from logolens.data.geometry import perspective_coefficients
from logolens.utils import atomic_write, atomic_write_json, atomic_write_text

__all__ = ["BRANDS_FILE", "LAYOUTS", "SHAPES", "BrandMark", "Scene", "compose_scene", "generate_dataset", "load_brands", "render_background",
           "make_brands", "render_scene"]

MIN_SCALE, MAX_SCALE = 0.12, 0.45  # logo longest side, share of the scene's shorter side
MAX_ROTATION = 25.0  # degrees, either way
MAX_IOU = 0.1  # between two logo boxes of one scene
MAX_OCCLUSION = 0.3  # share of a logo's pixels an occluder may cover
MAX_LOGOS = 16
ALPHA_CUTOFF = 40  # alpha below this is cleared, so every pixel in a logo's mask visibly changes the scene
MIN_BOX_SIDE = 6  # pixels; logos are never rendered thinner than this


@dataclass(frozen=True)
class Scene:
    """A rendered scene: the RGB image, one box per logo, and each logo's pixel footprint.

    ``masks[i]`` is a (height, width) bool array of the pixels logo ``i`` was pasted on (before any
    occluder covered part of it); ``boxes[i]`` is exactly its tight box.
    """

    image: Image.Image
    boxes: list[Box]
    masks: list[np.ndarray]


def render_scene(brands: Sequence[BrandMark], rng: np.random.Generator, size: tuple[int, int] = (320, 240),
                 n_logos: int = 1, allow_same_brand: bool = True) -> tuple[Image.Image, list[Box]]:
    """An RGB scene of ``size`` (width, height) pixels with ``n_logos`` logos of random ``brands``.

    ``n_logos=0`` gives a no-logo background. A logo that cannot be placed without overlapping
    another (box IoU >= 0.1) after many tries is left out, so a very crowded request may return
    fewer boxes.
    """
    check_range("n_logos", n_logos, 0, MAX_LOGOS)
    if n_logos and not brands:
        raise ValueError("brands is empty; give at least one BrandMark to draw logos from")
    if not allow_same_brand and n_logos > len(brands):
        raise ValueError(f"n_logos must be 0..{len(brands)} (the number of brands) when allow_same_brand is False, got {n_logos}")
    picks = rng.choice(len(brands), size=n_logos, replace=allow_same_brand) if n_logos else []
    scene = compose_scene([brands[int(i)] for i in picks], rng, size)
    return scene.image, scene.boxes


def compose_scene(picks: Sequence[BrandMark], rng: np.random.Generator, size: tuple[int, int] = (320, 240),
                  clutter: bool = True, occlusion: bool = True) -> Scene:
    """Paste one logo per entry of ``picks`` (in order) onto a background.

    ``clutter=False`` gives a flat black background without distractors or noise, and
    ``occlusion=False`` never covers logos: together they let tests check boxes against pixels.
    """
    width, height = _check_size(size)
    image = render_background(rng, size) if clutter else Image.new("RGB", size)
    boxes: list[Box] = []
    masks: list[np.ndarray] = []
    for brand in picks:
        placed = _place_logo(brand, rng, image, boxes)
        if placed is not None:
            boxes.append(placed[0])
            masks.append(placed[1])
    if occlusion:
        for box in boxes:
            if rng.random() < 0.3:
                _occlude(image, box, masks, rng)
    if clutter:
        noise = rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(rng.uniform(0, 6))  # sensor grain
        noisy = np.asarray(image, dtype=np.float32) + noise
        image = Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), "RGB")
    return Scene(image, boxes, masks)


def generate_dataset(out_dir: str | Path, n_brands: int = 8, images_per_brand: int = 20, seed: int = 0,
                     image_size: tuple[int, int] = (320, 240), no_logo_images: int = 0,
                     max_logos_per_image: int = 2, progress: bool = False) -> LogoDataset:
    """Write a FlickrLogos-27-style folder of synthetic scenes into ``out_dir`` and load it back.

    Writes ``flickr_logos_27_dataset_images/00000.jpg``... (JPEG quality 90), the training
    annotation (boxes), the query annotation (``filename<TAB>brand``, the main brand of every image
    or ``none``) and ``brands.json``. Each brand is the main brand (:attr:`ImageRecord.primary_brand`)
    of exactly ``images_per_brand`` images; other logos in an image never outnumber it. Returns the
    dataset as read back from the training file (no-logo images are only in the query file).
    """
    check_range("images_per_brand", images_per_brand, 1, 100_000)
    check_range("no_logo_images", no_logo_images, 0, 100_000)
    check_range("max_logos_per_image", max_logos_per_image, 1, MAX_LOGOS)
    check_range("seed", seed, 0, 2**63 - 1)
    _check_size(image_size)
    brands = make_brands(n_brands, seed)
    out_dir = Path(out_dir)
    images_dir = out_dir / IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    mains: list[BrandMark | None] = [b for b in brands for _ in range(images_per_brand)] + [None] * no_logo_images
    order = np.random.default_rng((seed, 1)).permutation(len(mains))
    indices = range(len(mains))
    if progress:
        from logolens.progress import track

        indices = track(indices, "generating scenes", total=len(mains))
    records, queries = [], []
    for i in indices:
        main = mains[order[i]]
        path = images_dir / f"{i:05d}.jpg"
        scene = _dataset_scene(main, brands, seed, i, image_size, max_logos_per_image)
        atomic_write(path, lambda tmp, image=scene.image: image.save(tmp, format="JPEG", quality=90))
        if scene.boxes:
            records.append(ImageRecord(path, image_size[0], image_size[1], tuple(scene.boxes)))
        queries.append(f"{path.name}\t{main.name if main else NO_LOGO}\n")
    write_training_annotations(LogoDataset(tuple(records)), out_dir / TRAINING_FILE, images_dir)
    atomic_write_text(out_dir / QUERY_FILE, "".join(queries))
    atomic_write_json(out_dir / BRANDS_FILE, [asdict(b) for b in brands])
    return read_training_annotations(out_dir / TRAINING_FILE, images_dir)


def _dataset_scene(main: BrandMark | None, brands: Sequence[BrandMark], seed: int, index: int,
                   size: tuple[int, int], max_logos: int) -> Scene:
    """Scene ``index`` of a dataset; its own generator makes it independent of the others.

    Retries (with the next generator) in the unlikely case that a skipped logo let another brand
    tie with or outnumber the main one.
    """
    for attempt in range(100):
        rng = np.random.default_rng((seed, 2, index, attempt))
        if main is None:
            return compose_scene([], rng, size)
        scene = compose_scene(_picks_with_main(main, brands, rng, max_logos), rng, size)
        if ImageRecord(Path("."), size[0], size[1], tuple(scene.boxes)).primary_brand == main.name:
            return scene
    raise RuntimeError(f"could not compose a scene whose main brand is {main.name}")  # pragma: no cover


def _picks_with_main(main: BrandMark, brands: Sequence[BrandMark], rng: np.random.Generator, max_logos: int) -> list[BrandMark]:
    """``main`` first, then up to ``max_logos - 1`` more logos that never take the main-brand role."""
    counts = {main.name: 1}
    extras_main, extras_other = [], []
    for _ in range(int(rng.integers(1, max_logos + 1)) - 1):
        other = brands[int(rng.integers(len(brands)))] if rng.random() < 0.6 else main
        new = counts.get(other.name, 0) + 1
        if other is not main and (new > counts[main.name] or (new == counts[main.name] and other.name < main.name)):
            other = main
        counts[other.name] = counts.get(other.name, 0) + 1
        (extras_main if other is main else extras_other).append(other)
    return [main, *extras_main, *extras_other]


def _random_colour(rng: np.random.Generator, grey_share: float = 0.6) -> tuple[int, int, int]:
    """Clutter colour: mostly greys, otherwise a muted random hue, so clutter never mimics a brand."""
    if rng.random() < grey_share:
        return (int(rng.integers(20, 236)),) * 3  # type: ignore[return-value]
    return hsv(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.2, 0.95))


def render_background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A gradient, optionally with blotches and stripes or checks, then distractor clutter."""
    width, height = size
    yy, xx = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    c0, c1 = (np.array(_random_colour(rng, 0.3), np.float32) for _ in range(2))
    pixels = c0 + t[..., None] * (c1 - c0)
    if rng.random() < 0.5:
        small = Image.fromarray(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), "RGB")
        blotches = np.asarray(small.resize(size, Image.Resampling.BICUBIC), np.float32)
        pixels += rng.uniform(0.2, 0.5) * (blotches - pixels)
    if rng.random() < 0.45:
        period = rng.uniform(6, 30)
        if rng.random() < 0.5:
            phi = rng.uniform(0, math.pi)
            pattern = np.sin(2 * math.pi * (xx * math.cos(phi) + yy * math.sin(phi)) / period) > 0
        else:
            pattern = ((xx // period) + (yy // period)) % 2 > 0
        colour = np.array(_random_colour(rng), np.float32)
        pixels += rng.uniform(0.15, 0.4) * pattern[..., None] * (colour - pixels)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(int(rng.integers(4, 17))):
        _distractor(draw, rng, size)
    return image


def _distractor(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """One piece of clutter: an irregular polygon, a line, a thin ellipse or bar, or grey letters."""
    width, height = size
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    r = rng.uniform(0.05, 0.35) * min(size) / 2
    fill = (*_random_colour(rng), int(rng.integers(110, 256)))
    kind = rng.integers(5)
    if kind == 0:
        k = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * math.pi, k))
        radii = r * rng.uniform(0.3, 1.0, k)
        draw.polygon([(cx + q * math.cos(a), cy + q * math.sin(a)) for q, a in zip(radii, angles)], fill=fill)
    elif kind == 1:
        points = [(cx + rng.uniform(-2, 2) * r, cy + rng.uniform(-2, 2) * r) for _ in range(int(rng.integers(2, 5)))]
        draw.line(points, fill=fill, width=int(rng.integers(1, 7)))
    elif kind in (2, 3):
        rx, ry = (r, r * rng.uniform(0.12, 0.4)) if rng.random() < 0.5 else (r * rng.uniform(0.12, 0.4), r)
        (draw.ellipse if kind == 2 else draw.rectangle)((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
    else:
        letters = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(1, 5))))
        grey = int(rng.integers(20, 236))
        draw.text((cx, cy), letters, font=builtin_font(max(6, int(r))), fill=(grey, grey, grey, fill[3]))


def _place_logo(brand: BrandMark, rng: np.random.Generator, image: Image.Image, boxes: list[Box]) -> tuple[Box, np.ndarray] | None:
    """Paste a transformed logo where its box overlaps no earlier box by IoU >= 0.1; None if none fits."""
    width, height = image.size
    top = MAX_SCALE
    for _ in range(4):
        patch = _transformed_logo(brand, rng, rng.uniform(MIN_SCALE, top) * min(width, height))
        pw, ph = patch.size
        for _ in range(15):
            x, y = int(rng.integers(0, max(width - pw, 0) + 1)), int(rng.integers(0, max(height - ph, 0) + 1))
            box = Box(float(x), float(y), float(min(x + pw, width)), float(min(y + ph, height)), brand.name)
            if all(_iou(box, other) < MAX_IOU for other in boxes):
                image.paste(patch, (x, y), patch)
                mask = np.zeros((height, width), bool)
                mask[y:y + ph, x:x + pw] = np.asarray(patch.getchannel("A"))[: height - y, : width - x] > 0
                return _mask_box(mask, brand.name), mask
        top = max(MIN_SCALE, top * 0.7)
    return None


def _transformed_logo(brand: BrandMark, rng: np.random.Generator, longest: float) -> Image.Image:
    """The logo scaled to ``longest`` px, colour-jittered, rotated, warped, maybe blurred; cropped to its alpha."""
    bucket = next((h for h in (64, 128, 256, 512, 1024) if h >= longest), 2048)
    canonical = render_canonical(brand, bucket)
    w, h = canonical.size
    longest = max(longest, MIN_BOX_SIDE * max(w, h) / min(w, h))
    k = longest / max(w, h)
    logo = canonical.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.LANCZOS)
    pixels = np.asarray(logo, np.float32).copy()
    gain = rng.uniform(0.8, 1.15) * rng.uniform(0.92, 1.08, 3)
    pixels[..., :3] = np.clip(pixels[..., :3] * gain + rng.uniform(-10, 10, 3), 0, 255)
    patch = _warp(Image.fromarray(pixels.astype(np.uint8), "RGBA"), rng)
    if rng.random() < 0.3:
        patch = patch.convert("RGBa").filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2))).convert("RGBA")
    pixels = np.asarray(patch).copy()
    pixels[pixels[..., 3] < ALPHA_CUTOFF] = 0
    patch = Image.fromarray(pixels, "RGBA")
    return patch.crop(patch.getchannel("A").getbbox())


def _warp(logo: Image.Image, rng: np.random.Generator, pad: int = 4) -> Image.Image:
    """Rotate by up to 25 degrees either way and nudge each corner by up to 7% (mild perspective)."""
    w, h = logo.size
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float64)
    moved = src + rng.uniform(-0.07, 0.07, (4, 2)) * (w, h) - (w / 2, h / 2)
    theta = math.radians(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    dst = moved @ rotation.T
    dst -= dst.min(axis=0) - pad
    out = tuple(int(math.ceil(v)) + pad for v in dst.max(axis=0))
    return logo.transform(out, Image.Transform.PERSPECTIVE, perspective_coefficients(dst, src), Image.Resampling.BICUBIC)


def _occlude(image: Image.Image, box: Box, masks: list[np.ndarray], rng: np.random.Generator) -> None:
    """Cover one side of ``box`` with a clutter patch hiding under 30% of every logo's pixels."""
    bw, bh = box.width, box.height
    depth = rng.uniform(0.2, 0.5)
    side = int(rng.integers(4))
    for _ in range(8):
        edges = list(box.xyxy)  # move edge ``side`` towards its opposite: side 0/1 keep the right/bottom part
        edges[side] = edges[side ^ 2] + (depth if side >= 2 else -depth) * (bw, bh)[side % 2]
        x1, y1, x2, y2 = edges
        rect = (int(x1 - 0.1 * bw), int(y1 - 0.1 * bh), int(math.ceil(x2 + 0.1 * bw)), int(math.ceil(y2 + 0.1 * bh)))
        if all(_covered(mask, rect) < MAX_OCCLUSION for mask in masks):
            ImageDraw.Draw(image).rounded_rectangle(rect, radius=int(rng.integers(0, 6)), fill=_random_colour(rng))
            return
        depth *= 0.7


def _covered(mask: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """Share of ``mask``'s pixels inside the inclusive pixel rectangle ``rect`` (as ImageDraw fills it)."""
    x1, y1, x2, y2 = (max(v, 0) for v in rect)
    return float(mask[y1:y2 + 1, x1:x2 + 1].sum()) / max(float(mask.sum()), 1.0)


def _mask_box(mask: np.ndarray, brand: str) -> Box:
    """The tight ``xyxy`` box of a (height, width) bool mask (x2, y2 exclusive)."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return Box(float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1), brand)


def _iou(a: Box, b: Box) -> float:
    w = max(min(a.x2, b.x2) - max(a.x1, b.x1), 0.0)
    h = max(min(a.y2, b.y2) - max(a.y1, b.y1), 0.0)
    inter = w * h
    return inter / (a.area + b.area - inter) if inter else 0.0


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if not (64 <= width <= 4096 and 64 <= height <= 4096):
        raise ValueError(f"scene size must be (width, height) with both 64..4096 pixels, got {tuple(size)}")
    return width, height
