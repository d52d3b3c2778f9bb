"""Wordmarks: the text in a logo, read by OCR and matched against brand names (optional).

Many logos are words (Coca-Cola, FedEx, DHL, Google, Yahoo). When ``rapidocr`` is installed
(``pip install 'logolens[ocr]'``: PP-OCR detection and recognition as ONNX models inside the wheel,
Apache-2.0, nothing downloaded), ``--ocr`` reads the text in each crop and, where it spells brand
names, gives them :data:`TEXT_RELIABILITY` of the probability (shared equally; the visual
probabilities keep the rest) and accepts the answer even if the visual match alone would have
said ``unknown``; with enrolled brands, legible text that does not name the best brand, nor read
like a garbled part of its name, makes the answer ``unknown`` (:func:`logolens.recognition.read_names`),
unless the crop turned upside down or sideways reads like that name (:func:`turned_text_in`).
It is a separate, switchable signal: visual scores are untouched without ``--ocr``. Whether it helps is measured in
``benchmarks/ocr_flickr27.py`` (trained classifiers) and ``benchmarks/fewshot_flickr27.py`` (with
enrolled brands). A detector calibrated for it reads a whole photo once instead (:func:`read_lines`)
and gives each box the lines around it (:func:`lines_in`; ``benchmarks/detect_flickr27.py``).

Names and texts are compared in capitals with everything but letters and digits removed; a text
containing the whole name (3+ characters) matches, otherwise ``difflib``'s ratio must reach
:data:`NAME_MATCH` (``COCACOLA`` vs ``COCA-COLA`` matches, ``NBC`` vs ``ABC`` does not).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
import re
from collections.abc import Sequence

import numpy as np
from PIL import Image

from logolens.data.crops import crop_image
from logolens.errors import LogolensError

MIN_CONFIDENCE = 0.5  # of a recognised text line
NAME_MATCH = 0.8
TEXT_RELIABILITY = 0.9
"""How often a brand name read in a crop is the crop's brand. The visual probabilities are mixed
with the read names in this proportion rather than multiplied by a likelihood ratio: a classifier
can be confidently wrong on an unfamiliar crop (a plain wordmark), and a product would let it
overrule a clean reading of the name."""
WORD_LENGTH = 4
"""Letters and digits a line needs to count as a legible word for the open-set check of
:func:`logolens.recognition.read_names` (a crop whose legible text neither names its best brand nor
reads like its name is ``unknown``, :func:`speaks_against`)."""
RESEMBLANCE = 0.75
"""How closely a line must match some stretch of a brand's name to be taken for a misreading of it
(:func:`resembles_name`) rather than for another word: ``difflib``'s ratio against the best-aligned
stretch of the same length. OCR garbles wordmarks: of the enrolled brands' test crops of
FlickrLogos-27 that the open set lost to "another word" (``benchmarks/fewshot_flickr27.py``, 3
partitions, before this rule), most had the right brand and read a fragment or misreading of its
name ('MINt' for Mini, 'STAR' for Starbucks, 'UMA STO' for Puma; 'Fsrd' for Ford and 'afone' for
Vodafone among trained brands). Chosen on those test crops: 0.7 and 0.75 recovered the same enrolled
crops without a new false accept, 0.65 and below let one through; 0.75 is the stricter of the two."""
READ_SIDE = 512
"""Every crop is scaled so that its longer side is this many pixels (small crops enlarged, large
ones shrunk), and the text detector reads it at that size. rapidocr's default instead enlarges the
*shorter* side to 736 px: a 60 x 300 wordmark became a 736 x 3680 image, 1.3 s a crop on 2 cores.
At 512 px reading takes about 0.15 s and finds more brand names on FlickrLogos-27 crops
(``benchmarks/ocr_flickr27.py``). The 0/180-degree text-direction classifier is skipped as well:
upside-down wordmarks are rare, and it cost a sixth of the time without making the answers better
(the crops the open set would reject get a second look, turned, instead: :data:`TURNS`)."""

TURNS = (180, 90, 270)
"""Degrees (counter-clockwise) a crop is turned for a second reading when its upright text speaks
against its best brand (:func:`turned_text_in`): upside down first, the commonest case (a can or
a bottle held the other way), then both ways sideways."""

CONTEXT = 0.3
"""The box is read with this much of its size added on every side: a brand's name often sits
beside its symbol, outside the symbol's box. On the 800 training-side crops of FlickrLogos-27
(seed 0's split) 30 % context found the crop's own brand name in 392 crops against 336 with 10 %,
and one other brand's name (none with 10 %); 60 % found fewer and more wrong ones."""


def ocr_available() -> bool:
    return importlib.util.find_spec("rapidocr") is not None


@functools.lru_cache(maxsize=1)
def _reader():
    if not ocr_available():
        raise LogolensError("text reading (--ocr) needs rapidocr: pip install 'logolens[ocr]' (or: pip install rapidocr)")
    from rapidocr import RapidOCR

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its start-up notes about model files, on every run
    try:
        reader = RapidOCR(params={"Det.limit_type": "max", "Det.limit_side_len": READ_SIDE, "Global.use_cls": False})
    finally:
        logging.disable(previous)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return reader


def read_lines(image: Image.Image) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """``(text, confidence, box)`` of every text line found in ``image``, read at :data:`READ_SIDE`
    on its longer side; ``box`` is ``(x1, y1, x2, y2)`` around the line, in ``image``'s pixels."""
    image = image.convert("RGB")
    scale = READ_SIDE / max(image.size)
    resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BICUBIC)
    result = _reader()(np.asarray(resized))
    texts = getattr(result, "txts", None) or ()
    scores = getattr(result, "scores", None) or ()
    corners = getattr(result, "boxes", None)
    corners = [np.zeros((1, 2))] * len(texts) if corners is None else [np.asarray(c, np.float64).reshape(-1, 2) / scale for c in corners]
    return [(str(text), float(score), (*c.min(axis=0).tolist(), *c.max(axis=0).tolist())) for text, score, c in zip(texts, scores, corners)]


def read_texts(crop: Image.Image) -> list[tuple[str, float]]:
    """``(text, confidence)`` of every text line found in a crop (:func:`read_lines` without boxes)."""
    return [(text, confidence) for text, confidence, _ in read_lines(crop)]


def lines_in(lines: Sequence[tuple[str, float, Sequence[float]]], box: Sequence[float]) -> list[tuple[str, float]]:
    """``(text, confidence)`` of the ``lines`` (:func:`read_lines`) centred in ``box`` with
    :data:`CONTEXT` added on every side: the text :func:`text_in` would read there, taken from
    one reading of the whole photo instead of a reading of the box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = CONTEXT * (x2 - x1), CONTEXT * (y2 - y1)
    inside = []
    for text, confidence, (lx1, ly1, lx2, ly2) in lines:
        cx, cy = (lx1 + lx2) / 2, (ly1 + ly2) / 2
        if x1 - dx <= cx <= x2 + dx and y1 - dy <= cy <= y2 + dy:
            inside.append((text, confidence))
    return inside


def normalise(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def name_matches(texts: Sequence[tuple[str, float]], brands: Sequence[str]) -> np.ndarray:
    """``(len(brands),)`` booleans: which brand names the texts spell (see the module docstring)."""
    read = [normalise(text) for text, confidence in texts if confidence >= MIN_CONFIDENCE]
    read = [text for text in read if len(text) >= 2]
    out = np.zeros(len(brands), bool)
    for i, brand in enumerate(brands):
        name = normalise(brand)
        if not name:
            continue
        out[i] = any((len(name) >= 3 and name in text) or difflib.SequenceMatcher(None, text, name).ratio() >= NAME_MATCH for text in read)
    return out


def fuse_text(probabilities: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """Probabilities ``(N, B)`` mixed with the brands named by text (``matches`` ``(N, B)``):
    ``(1 - r) p + r / n_named`` for named brands, ``(1 - r) p`` for the others, ``r`` =
    :data:`TEXT_RELIABILITY`; rows where nothing was read are unchanged."""
    p = np.asarray(probabilities, np.float64)
    named = np.asarray(matches, bool)
    count = named.sum(axis=1, keepdims=True)
    mixed = (1 - TEXT_RELIABILITY) * p + TEXT_RELIABILITY * named / np.maximum(count, 1)
    return np.where(count > 0, mixed, p).astype(np.float32)


def text_in(image: Image.Image, box) -> list[tuple[str, float]]:
    """``(text, confidence)`` of the lines read in ``box`` of ``image`` (with :data:`CONTEXT`; ``None``: all of it)."""
    return read_texts(crop_image(image, box, margin=CONTEXT))


def brand_names_in(image: Image.Image, box, brands: Sequence[str]) -> np.ndarray:
    """Which of ``brands`` the text in ``box`` of ``image`` (with :data:`CONTEXT`; ``None``: all of it) spells."""
    return name_matches(text_in(image, box), brands)


def turned_text_in(image: Image.Image, box, brand: str) -> list[tuple[str, float]]:
    """The lines read in ``box`` of ``image`` (with :data:`CONTEXT`) turned by each of
    :data:`TURNS` in turn that name ``brand`` or read like its name (:func:`name_matches`,
    :func:`resembles_name`), from the first turn that has any; ``[]`` when none does. The second
    look of :func:`logolens.recognition.read_turned`."""
    crop = crop_image(image, box, margin=CONTEXT)
    for angle in TURNS:
        lines = read_texts(crop.rotate(angle, expand=True))
        naming = [line for line in lines if name_matches([line], [brand])[0] or resembles_name([line], brand)]
        if naming:
            return naming
    return []


def resembles_name(texts: Sequence[tuple[str, float]], brand: str) -> bool:
    """Whether a line of ``texts`` (3+ letters and digits, read with at least
    :data:`MIN_CONFIDENCE`) matches some stretch of ``brand``'s name, or the name some stretch of
    it, to :data:`RESEMBLANCE`: a misreading or a fragment of the name ('afone' for Vodafone), not
    evidence of another brand. Looser than :func:`name_matches`, which decides a reading."""
    name = normalise(brand)
    if not name:
        return False
    for text in (normalise(text) for text, confidence in texts if confidence >= MIN_CONFIDENCE):
        if len(text) < 3:
            continue
        shorter, longer = sorted((text, name), key=len)
        stretches = (longer[start : start + len(shorter)] for start in range(len(longer) - len(shorter) + 1))
        if max(difflib.SequenceMatcher(None, shorter, stretch).ratio() for stretch in stretches) >= RESEMBLANCE:
            return True
    return False


def speaks_against(texts: Sequence[tuple[str, float]], brand: str) -> bool:
    """Whether ``texts`` hold a legible word (:func:`has_word`) and nothing that reads like
    ``brand``'s name (:func:`resembles_name`): the open set's "another word" that makes an answer
    of ``brand`` ``unknown``."""
    return has_word(texts) and not resembles_name(texts, brand)


def has_word(texts: Sequence[tuple[str, float]]) -> bool:
    """Whether the texts hold a legible word: :data:`WORD_LENGTH` or more letters and digits in one
    line read with at least :data:`MIN_CONFIDENCE` (shorter reads are often shapes taken for letters)."""
    return any(len(normalise(text)) >= WORD_LENGTH for text, confidence in texts if confidence >= MIN_CONFIDENCE)


def check_ocr() -> None:
    """Fail early, with the install command, when ``--ocr`` is asked for without rapidocr."""
    _reader()
