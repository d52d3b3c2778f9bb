"""Wordmarks: brand names matched in OCR text, and the switchable fusion."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from logolens.data.brand_marks import builtin_font
from logolens.inference import ocr
from logolens.inference.ocr import (
    TEXT_RELIABILITY, brand_names_in, fuse_text, name_matches, normalise, ocr_available, read_texts, resembles_name, speaks_against,
    turned_text_in,
)


def test_name_matching_rules():
    assert normalise("Coca-Cola®") == "COCACOLA"
    brands = ["Coca-Cola", "NBC", "FedEx", "Google"]
    assert name_matches([("COCACOLA", 0.9)], brands).tolist() == [True, False, False, False]
    assert name_matches([("www.fedex.com", 0.9)], brands).tolist() == [False, False, True, False]  # contains the name
    assert name_matches([("Gooogle", 0.9)], brands).tolist() == [False, False, False, True]  # close enough
    assert not name_matches([("ABC", 0.99)], brands).any()  # NBC vs ABC: one letter of three
    assert not name_matches([("NBC", 0.3)], brands).any()  # too unsure a reading
    assert not name_matches([], brands).any()


@pytest.mark.parametrize("text, brand, resembles", [
    ("afone", "Vodafone", True),          # a fragment of the name
    ("UMA STO", "Puma", True),            # the name garbled inside a longer line
    ("MINt", "Mini", True),               # one letter misread
    ("Fsrd", "Ford", True),
    ("PILSENER BIER", "Heineken", False),  # a slogan: another word
    ("Castrol", "Ford", False),           # another brand's name
    ("COFFEE", "Starbucks", False),
    ("afo", "Vodafone", True),            # 3 characters are enough for a fragment ...
    ("af", "Vodafone", False),            # ... 2 are not
])
def test_misreadings_of_a_name_are_told_from_other_words(text, brand, resembles):
    assert resembles_name([(text, 0.9)], brand) == resembles
    assert not resembles_name([(text, 0.3)], brand)  # too unsure a reading resembles nothing
    assert speaks_against([(text, 0.9)], brand) == (not resembles and len(normalise(text)) >= 4)


def test_a_slogan_beside_the_name_or_a_misreading_of_it_does_not_speak_against_the_brand():
    assert speaks_against([("PILSENER BIER", 0.9)], "Heineken")
    assert not speaks_against([("PILSENER BIER", 0.9), ("HEINEKEN", 0.9)], "Heineken")
    assert not speaks_against([("PILSENER BIER", 0.9), ("Heinekn", 0.9)], "Heineken")
    assert speaks_against([("PILSENER BIER", 0.9), ("Heinekn", 0.3)], "Heineken")  # the misreading too unsure to count


def test_fusion_upweights_named_brands_only():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]], np.float32)
    matches = np.array([[False, False, True], [False, False, False]])
    fused = fuse_text(probabilities, matches)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0, atol=1e-6)
    assert fused[0].argmax() == 2 and fused[0, 2] == pytest.approx((1 - TEXT_RELIABILITY) * 0.1 + TEXT_RELIABILITY)
    np.testing.assert_allclose(fused[1], probabilities[1], atol=1e-6)


@pytest.mark.skipif(not ocr_available(), reason="rapidocr is not installed (pip install 'logolens[ocr]')")
def test_reads_a_rendered_wordmark():
    image = Image.new("RGB", (360, 120), (255, 255, 255))
    ImageDraw.Draw(image).text((20, 25), "KRODOR", fill=(200, 20, 40), font=builtin_font(64))
    texts = read_texts(image)
    assert name_matches(texts, ["Tira", "Krodor", "Muplitol"]).tolist() == [False, True, False], texts


@pytest.mark.skipif(not ocr_available(), reason="rapidocr is not installed (pip install 'logolens[ocr]')")
@pytest.mark.parametrize("size, font", [((70, 22), 12), ((4000, 1300), 700)], ids=["tiny crop", "huge photo"])
def test_reads_wordmarks_far_from_the_reading_size(size, font):
    """Crops are scaled to READ_SIDE on their longer side before reading: a 12-px wordmark is
    enlarged enough to read, a 700-px one shrunk and still read."""
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).text((size[0] // 18, size[1] // 5), "KRODOR", fill=(200, 20, 40), font=builtin_font(font))
    texts = read_texts(image)
    assert name_matches(texts, ["Tira", "Krodor", "Muplitol"]).tolist() == [False, True, False], texts


@pytest.mark.skipif(not ocr_available(), reason="rapidocr is not installed (pip install 'logolens[ocr]')")
def test_a_name_beside_the_symbol_is_read_with_the_boxs_context(monkeypatch):
    """The box holds only the symbol; its name sits just below, inside CONTEXT but outside the
    10 % context used before, which missed it."""
    image = Image.new("RGB", (500, 220), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 20, 350, 120), fill=(200, 20, 40))
    draw.text((170, 124), "KRODOR", fill=(20, 20, 20), font=builtin_font(28))  # letters at y 133-152
    symbol = (150, 20, 350, 120)
    assert brand_names_in(image, symbol, ["Tira", "Krodor"]).tolist() == [False, True]
    monkeypatch.setattr(ocr, "CONTEXT", 0.1)
    assert not brand_names_in(image, symbol, ["Tira", "Krodor"]).any()


@pytest.mark.skipif(not ocr_available(), reason="rapidocr is not installed (pip install 'logolens[ocr]')")
def test_an_upside_down_wordmark_is_read_turned():
    """Read upright, an upside-down 'bodpus' is another word ('sndpoq'); turned, it is the name.
    Only lines naming the brand asked for come back."""
    image = Image.new("RGB", (360, 120), (255, 255, 255))
    ImageDraw.Draw(image).text((20, 25), "bodpus", fill=(200, 20, 40), font=builtin_font(64))
    upside_down = image.rotate(180)
    assert speaks_against(read_texts(upside_down), "Bodpus"), read_texts(upside_down)
    turned = turned_text_in(upside_down, None, "Bodpus")
    assert name_matches(turned, ["Bodpus"]).all(), turned
    assert turned_text_in(upside_down, None, "Krodor") == []
    assert turned_text_in(upside_down, (0, 0, 40, 30), "Bodpus") == []  # only the box (and its context) is read
