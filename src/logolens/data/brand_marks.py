"""Made-up brand marks for generated logo data: a name, a shape, two colours and 2-4 letters.

Each brand is drawn at any pixel height with a transparent background and a tight box, by
rendering larger and shrinking for smooth edges. Marks are chosen to be visually distinct from
one another (distinct shape and colour pairs), and nothing here mirrors them: logos are chiral.
"""

from __future__ import annotations

import colorsys
import json
import math
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from logolens.data.dataset import NO_LOGO
from logolens.errors import DataError

SHAPES = ("circle", "ring", "square", "diamond", "triangle", "hexagon", "pentagon", "star", "cross", "bars", "chevron", "crescent")
LAYOUTS = ("badge", "side", "stack")
BADGE_TEXT_FRACTION = {"circle": 0.62, "ring": 0.48, "square": 0.72, "diamond": 0.44, "hexagon": 0.62, "pentagon": 0.55}
"""Shapes that can hold their text inside ("badge" layout): widest text, as a share of the mark."""
ACCENTS = {"ring": (0.5, 0.5, 0.16), "triangle": (0.5, 0.66, 0.15), "star": (0.5, 0.52, 0.13), "cross": (0.5, 0.5, 0.14),
           "bars": (0.125, 0.3, 0.11), "chevron": (0.2, 0.5, 0.1), "crescent": (0.8, 0.42, 0.1)}
"""Secondary-colour dot of non-badge marks: centre x, centre y, radius, as shares of the mark side."""
BRANDS_FILE = "brands.json"
MAX_BRANDS = 64
_SUPERSAMPLE = 3
_TONES = ((0.85, 0.92), (0.9, 0.55), (0.45, 0.97), (1.0, 0.72))  # (saturation, value) of primary colours
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "pl", "st", "tr", "vr", "sh", "th")
_VOWELS = ("a", "e", "i", "o", "u", "a", "o")
_CODAS = ("", "", "x", "n", "r", "s", "k", "l", "sh")


@dataclass(frozen=True)
class BrandMark:
    """A made-up brand: name plus the visual recipe of its logo.

    ``primary`` colours the shape (and the letters beside it), ``secondary`` the letters inside a
    badge or the accent dot; both are RGB 0-255. ``layout`` is ``badge`` (text inside the shape),
    ``side`` (shape left, text right) or ``stack`` (shape above text).
    """

    name: str
    shape: str
    primary: tuple[int, int, int]
    secondary: tuple[int, int, int]
    text: str
    layout: str

    def render(self, height: int) -> Image.Image:
        """The logo as RGBA on a transparent background, cropped to its alpha > 0 box, ``height`` px tall."""
        check_range("logo height in pixels", height, 8, 2048)
        return render_canonical(self, int(height)).copy()


def make_brands(n_brands: int, seed: int = 0) -> list[BrandMark]:
    """``n_brands`` (1..64) visually distinct brands; the same seed gives the same brands.

    Hues are spread evenly around the colour wheel (with up to 4 tones once there are more than 16
    brands), so every brand has its own primary colour; shapes cycle so that brands sharing a hue
    never share a shape.
    """
    check_range("n_brands", n_brands, 1, MAX_BRANDS)
    rng = np.random.default_rng(seed)
    n_hues = min(n_brands, 16)
    offset, hue_order, shape_order = rng.random(), rng.permutation(n_hues), rng.permutation(len(SHAPES))
    names: set[str] = set()
    texts: set[str] = set()
    brands = []
    for i in range(n_brands):
        saturation, value = _TONES[i // n_hues]
        hue = (offset + hue_order[i % n_hues] / n_hues) % 1.0
        primary = hsv(hue, saturation, value)
        shape = SHAPES[shape_order[(i + i // n_hues) % len(SHAPES)]]
        name = _new_name(rng, names)
        text = _new_text(rng, name, texts)
        badge = shape in BADGE_TEXT_FRACTION and rng.random() < 0.5
        layout = "badge" if badge else LAYOUTS[1 + int(rng.integers(2))]
        brands.append(BrandMark(name, shape, primary, _secondary(rng, primary, hue), text, layout))
    return brands


def load_brands(path: str | Path) -> list[BrandMark]:
    """Read the ``brands.json`` that :func:`generate_dataset` writes."""
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [BrandMark(**{f.name: tuple(item[f.name]) if f.name in ("primary", "secondary") else item[f.name] for f in fields(BrandMark)})
                for item in items]
    except FileNotFoundError:
        raise DataError(path, "brands file not found") from None
    except (ValueError, TypeError, KeyError) as error:
        raise DataError(path, f"not a list of brand objects ({error})") from None


def check_range(name: str, value: int, low: int, high: int) -> None:
    """``ValueError`` quoting ``name``, the allowed range and the bad ``value``."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be {low}..{high}, got {value}")


def hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(hue, saturation, value))  # type: ignore[return-value]


def _secondary(rng: np.random.Generator, primary: tuple[int, int, int], hue: float) -> tuple[int, int, int]:
    """A colour that contrasts with ``primary``: white or near-black, or the complementary hue."""
    light = 0.299 * primary[0] + 0.587 * primary[1] + 0.114 * primary[2] > 150
    if rng.random() < 0.6:
        return (34, 32, 44) if light else (248, 248, 242)
    return hsv((hue + 0.5) % 1.0, 0.8, 0.35 if light else 1.0)


def _new_name(rng: np.random.Generator, used: set[str]) -> str:
    """A pronounceable made-up name such as ``Zorvex``: 2-3 consonant-vowel syllables and a coda."""
    while True:
        syllables = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                            for _ in range(int(rng.integers(2, 4))))
        name = (syllables + _CODAS[rng.integers(len(_CODAS))]).capitalize()
        if name not in used and name.lower() != NO_LOGO and len(name) <= 10:
            used.add(name)
            return name


def _new_text(rng: np.random.Generator, name: str, used: set[str]) -> str:
    """The wordmark: 2-4 leading letters of the name, unused by earlier brands where possible."""
    first = int(rng.integers(2, 5))
    options = [name[:k].upper() for k in (first, 2, 3, 4)]
    text = next((t for t in options if t not in used), options[0])
    used.add(text)
    return text


@lru_cache(maxsize=64)
def builtin_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font: no system fonts, the same glyphs on every machine."""
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def _fitted_font(text: str, max_width: float, max_height: float) -> tuple[ImageFont.FreeTypeFont, int, tuple[int, int, int, int]]:
    """The built-in font sized so bold ``text`` fits ``max_width`` x ``max_height`` pixels."""
    size = max(4, int(max_height))
    for _ in range(3):
        font, stroke = builtin_font(size), max(1, size // 14)
        x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke)
        scale = min(max_width / max(x1 - x0, 1), max_height / max(y1 - y0, 1))
        if 0.97 <= scale <= 1.0:
            break
        size = max(4, int(size * scale))
    font, stroke = builtin_font(size), max(1, size // 14)
    return font, stroke, tuple(int(v) for v in font.getbbox(text, stroke_width=stroke))  # type: ignore[return-value]


def _polygon(n: int, cx: float, cy: float, radius: float, inner: float = 1.0) -> list[tuple[float, float]]:
    """Regular polygon (or star when ``inner`` < 1) with a vertex pointing up."""
    return [(cx + r * math.sin(a), cy - r * math.cos(a)) for k in range(n) for r, a in
            [((inner if k % 2 else 1.0) * radius, 2 * math.pi * k / n)]]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, s: float, colour: tuple[int, int, int]) -> None:
    """Draw ``shape`` filling the square of side ``s`` at ``(x, y)``; ``crescent`` cuts out pixels."""
    cx, cy, r = x + s / 2, y + s / 2, s / 2
    if shape in ("circle", "crescent"):
        draw.ellipse((x, y, x + s, y + s), fill=colour)
        if shape == "crescent":
            draw.ellipse((x + 0.32 * s, y - 0.08 * s, x + 1.12 * s, y + 0.72 * s), fill=(0, 0, 0, 0))
    elif shape == "ring":
        draw.ellipse((x, y, x + s, y + s), outline=colour, width=max(2, int(0.17 * s)))
    elif shape == "square":
        draw.rounded_rectangle((x, y, x + s, y + s), radius=0.14 * s, fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, y), (x + s, cy), (cx, y + s), (x, cy)], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, y), (x + s, y + s), (x, y + s)], fill=colour)
    elif shape in ("hexagon", "pentagon", "star"):
        n, inner = {"hexagon": (6, 1.0), "pentagon": (5, 1.0), "star": (10, 0.45)}[shape]
        draw.polygon(_polygon(n, cx, cy + (0.1 * r if n != 6 else 0), r * (1.1 if n != 6 else 1.0), inner), fill=colour)
    elif shape == "cross":
        t = s / 3
        draw.rectangle((x + t, y, x + 2 * t, y + s), fill=colour)
        draw.rectangle((x, y + t, x + s, y + 2 * t), fill=colour)
    elif shape == "bars":
        for k, share in enumerate((0.45, 0.72, 1.0)):
            draw.rectangle((x + k * 0.375 * s, y + (1 - share) * s, x + k * 0.375 * s + 0.25 * s, y + s), fill=colour)
    elif shape == "chevron":
        t = 0.42 * s
        draw.polygon([(x, y), (x + t, y), (x + s, cy), (x + t, y + s), (x, y + s), (x + s - t, cy)], fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose from: {', '.join(SHAPES)}")


def _draw_text(draw: ImageDraw.ImageDraw, text: str, x: float, y: float, fitted: tuple, colour: tuple[int, int, int]) -> None:
    font, stroke, (x0, y0, _, _) = fitted
    draw.text((x - x0, y - y0), text, font=font, fill=colour, stroke_width=stroke, stroke_fill=colour)


@lru_cache(maxsize=512)
def render_canonical(brand: BrandMark, height: int) -> Image.Image:
    """Draw the mark supersampled, crop it to its alpha, and resize to exactly ``height`` pixels."""
    s = max(height, 32) * _SUPERSAMPLE
    if brand.layout == "badge":
        share = BADGE_TEXT_FRACTION.get(brand.shape, 0.5)
        fitted = _fitted_font(brand.text, share * s, 0.36 * s)
        canvas, shape_x, text_xy = (s, s), 0, None
    else:
        side = brand.layout == "side"
        fitted = _fitted_font(brand.text, (2.4 if side else 1.6) * s, (0.6 if side else 0.36) * s)
        tw, th = fitted[2][2] - fitted[2][0], fitted[2][3] - fitted[2][1]
        canvas = (int(s + 0.14 * s + tw), s) if side else (int(max(s, tw)), int(1.12 * s + th))
        shape_x = 0 if side else (canvas[0] - s) / 2
        text_xy = (1.14 * s, (s - th) / 2) if side else ((canvas[0] - tw) / 2, 1.12 * s)
    image = Image.new("RGBA", canvas, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    _draw_shape(draw, brand.shape, shape_x, 0, s, brand.primary)
    if text_xy is None:
        tw, th = fitted[2][2] - fitted[2][0], fitted[2][3] - fitted[2][1]
        centre_y = 0.56 * s if brand.shape == "pentagon" else 0.5 * s
        _draw_text(draw, brand.text, (s - tw) / 2, centre_y - th / 2, fitted, brand.secondary)
    else:
        ax, ay, ar = ACCENTS.get(brand.shape, (0.5, 0.5, 0.2))
        cx, cy, r = shape_x + ax * s, ay * s, ar * s
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=brand.secondary)
        _draw_text(draw, brand.text, text_xy[0], text_xy[1], fitted, brand.primary)
    return _resize_tight(image, height)


def _resize_tight(image: Image.Image, height: int) -> Image.Image:
    """Crop to alpha > 0 and resize to ``height``; repeats while resampling empties an edge row or column."""
    for _ in range(4):
        image = image.crop(image.getchannel("A").getbbox())
        if image.height == height:
            break
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image
