"""Trained brands and enrolled brands together: one answer per logo, saying which one answered.

A model folder's trained classifier knows its training brands; its gallery
(:mod:`logolens.gallery`) knows brands enrolled from a few examples. For each crop:

1. the classifier gives probabilities over the trained brands;
2. the crop's brand embedding is matched against the gallery: the trained brands' reference
   crops and the enrolled examples. A calibrated model of the similarity margin gives
   P(enrolled), the chance that the logo is one of the enrolled brands rather than a trained
   one, and a softmax says which enrolled brand (:mod:`logolens.gallery.matching`);
3. ``p(trained b) = (1 - P(enrolled)) x p_classifier(b)``, ``p(enrolled e) = P(enrolled) x softmax(e)``;
4. if the best similarity is below the gallery's calibrated threshold, the logo is ``unknown``
   (with the crop's text read, the threshold calibrated for that decision where the gallery has one).

With no enrolled brands the gallery is not consulted and answers are the classifier's alone,
exactly as before enrolment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from logolens.classifier import LogoClassifier, Prediction, as_image
from logolens.errors import GalleryError, LogolensWarning
from logolens.gallery.folder import open_gallery
from logolens.gallery.store import UNKNOWN, BrandGallery


@dataclass(frozen=True)
class Recognition:
    """Per crop: ``probabilities`` ``(N, len(names))`` over trained then enrolled brands, whether
    the best brand is ``accepted`` (else ``unknown``) and the ``accept_probability``."""

    names: list[str]
    sources: list[str]  # "trained" or "gallery", per name
    probabilities: np.ndarray
    accepted: np.ndarray
    accept_probability: np.ndarray
    read: np.ndarray | None = None  # (N, len(names)) brand names spelt by the text in the crop (--ocr)
    rejected_by_text: np.ndarray | None = None  # (N,) unknown because the crop's text holds a word, not its brand's name (--ocr)
    # (N,) whether the best similarity clears the gallery's threshold for a decision that reads text too (--ocr; None: not
    # calibrated for it, ``accepted`` serves), see logolens.gallery.matching
    accepted_with_text: np.ndarray | None = None

    @property
    def accepted_before_reading(self) -> np.ndarray:
        """The visual decision a reading of the text starts from: ``accepted_with_text`` where the
        gallery has a threshold for it, else ``accepted``."""
        return self.accepted if self.accepted_with_text is None else self.accepted_with_text

    def predictions(self, row: int, top_k: int = 5) -> list[Prediction]:
        order = np.argsort(-self.probabilities[row], kind="stable")[:top_k]
        read = self.read[row] if self.read is not None else np.zeros(len(self.names), bool)
        ranked = [Prediction(self.names[i], float(self.probabilities[row, i]), "ocr" if read[i] else self.sources[i]) for i in order]
        if not self.accepted[row]:
            by_text = self.rejected_by_text is not None and bool(self.rejected_by_text[row])
            ranked = [Prediction(UNKNOWN, float(1.0 - self.accept_probability[row]), "ocr" if by_text else "gallery"), *ranked][:top_k]
        return ranked


def active_gallery(gallery: BrandGallery | None, trained_brands: Sequence[str], where: str | Path) -> BrandGallery | None:
    """The gallery if it has enrolled brands (else ``None``: nothing to add to the trained
    answers), after checking its references are the model's trained brands."""
    if gallery is None or not gallery.enrolled_brands:
        return None
    if sorted(gallery.trained_brands) != sorted(trained_brands):
        raise GalleryError(f"{where}: the gallery's trained references ({len(gallery.trained_brands)} brands) are not this model's "
                           f"{len(trained_brands)} brands; rebuild them with 'logolens brands init'")
    return gallery


def warn_if_not_calibrated_for_text(gallery: BrandGallery | None, where: str | Path) -> None:
    """With ``--ocr`` and enrolled brands: say so when the gallery's open set has no threshold
    calibrated for reading text (its references' text was never read), and how to get one."""
    if gallery is not None and gallery.calibration.text_threshold is None:
        warnings.warn(f"{where}: the open set was calibrated without reading text, so --ocr says 'unknown' at the visual threshold, "
                      f"stricter than it needs; 'logolens brands init --model {where} --ocr' calibrates one for it", LogolensWarning, stacklevel=2)


def combine(trained_probabilities: np.ndarray, trained_brands: Sequence[str], gallery: BrandGallery, vectors: np.ndarray) -> Recognition:
    """Fuse classifier probabilities over ``trained_brands`` with gallery matches of raw brand
    embeddings ``vectors``: ``p(trained b) = (1 - P(enrolled)) p_classifier(b)`` and
    ``p(enrolled e) = P(enrolled) softmax(e)`` (see :mod:`logolens.gallery.matching`)."""
    match = gallery.match(vectors)
    share = match["enrolled_probability"][:, None].astype(np.float64)
    probabilities = np.concatenate([np.asarray(trained_probabilities, np.float64) * (1.0 - share), match["enrolled_distribution"] * share], axis=1)
    enrolled = gallery.enrolled_brands
    text_threshold = gallery.calibration.text_threshold
    return Recognition([*trained_brands, *enrolled], ["trained"] * len(trained_brands) + ["gallery"] * len(enrolled),
                       probabilities.astype(np.float32), match["accepted"], match["accept_probability"],
                       accepted_with_text=match["similarity"] >= text_threshold if text_threshold is not None else None)


def read_names(result: Recognition, images: Sequence[Image.Image], boxes: Sequence, open_set: bool = True) -> Recognition:
    """``result`` with the text of each crop read (:mod:`logolens.inference.ocr`): brands whose
    names it spells are up-weighted, and a crop whose best brand was read is accepted.

    ``open_set`` (a gallery answered, so ``unknown`` is a possible answer): a crop whose text holds
    a legible word (:func:`~logolens.inference.ocr.has_word`) but neither its best brand's name nor
    a misreading of it (:func:`~logolens.inference.ocr.speaks_against`) is ``unknown``. Wordmarks are
    the logos that look most alike (Google and Yahoo, both coloured letters; Heineken and Starbucks,
    both green rings), and the text tells them apart where the pixels do not: on FlickrLogos-27
    (``benchmarks/fewshot_flickr27.py``, 3 partitions) crops of a brand in neither list accepted as
    some brand fell from 0.14 to 0.007, at the cost of enrolled brands' crops accepted with the right
    brand, 0.81 to 0.73 (their text was a slogan or another word). A word of 6+ characters instead of
    4 gave 0.76 / 0.03 on the same test crops (tuned on them, as
    :data:`~logolens.inference.ocr.RESEMBLANCE` was). The visual threshold was set for pixels alone; a
    gallery whose references' text was read (``logolens train --ocr``) has a threshold calibrated for
    this rule (``accepted_with_text``), which gave 0.79 / 0.06, 0.82 / 0.06 once a garbled reading
    of the best brand's own name stopped counting as another word, and 0.84 / 0.06 with a second look,
    turned, at the crops the text rejects (:func:`read_turned`). Without a gallery every answer is a
    trained brand and nothing changes."""
    from logolens.inference.ocr import text_in

    texts = [text_in(image, box) for image, box in zip(images, boxes)]
    return with_texts(result, read_turned(result, texts, images, boxes) if open_set else texts, open_set)


def read_turned(result: Recognition, texts: Sequence[list[tuple[str, float]]], images: Sequence[Image.Image], boxes: Sequence) -> list:
    """``texts`` with a second look at the open set's rejections: a crop whose text speaks against
    its best brand (as :func:`with_texts` would decide) is read again turned a half, a quarter and
    three quarters round (:func:`~logolens.inference.ocr.turned_text_in`), and the lines of the
    first turn that read like that brand's name are added to its text. Logos on cans, bottles and
    banners are often photographed sideways or upside down, and an upright reading of an upside-down
    'pepsi' is 'isdəd': on FlickrLogos-27 (``benchmarks/fewshot_flickr27.py``, 3 partitions) this
    took enrolled brands' crops accepted with the right brand from 0.82 to 0.84 and trained brands'
    from 0.82 to 0.83, with crops of a brand in neither list accepted no more often. Only crops
    about to be rejected are read again (5-6 % of that benchmark's test crops, up to three more
    readings each), so it costs nothing elsewhere."""
    from logolens.inference import ocr

    texts = list(texts)
    _, best, _, other_word = _text_verdicts(result, texts, open_set=True)
    for row in np.flatnonzero(other_word):
        texts[row] = [*texts[row], *ocr.turned_text_in(images[row], boxes[row], result.names[best[row]])]
    return texts


def _text_verdicts(result: Recognition, texts: Sequence[list[tuple[str, float]]], open_set: bool):
    """What the texts say of each crop: ``(read, best, probabilities, other_word)``: the brand
    names they spell ``(N, B)``, the best brand after fusing them, the fused probabilities, and
    (``open_set``) whether they hold another word than the best brand's name (:func:`with_texts`)."""
    from logolens.inference.ocr import fuse_text, name_matches, speaks_against

    read = np.stack([name_matches(t, result.names) for t in texts]) if texts else np.zeros((0, len(result.names)), bool)
    probabilities = fuse_text(result.probabilities, read)
    best = probabilities.argmax(axis=1) if texts else np.zeros(0, np.int64)
    best_read = read[np.arange(len(best)), best]
    other_word = np.zeros(len(texts), bool)
    if open_set:  # a legible word that neither names the best brand nor reads like its name
        other_word = np.array([speaks_against(t, result.names[b]) for t, b in zip(texts, best)], bool) & ~best_read
    return read, best, probabilities, other_word


def with_texts(result: Recognition, texts: Sequence[list[tuple[str, float]]], open_set: bool = True) -> Recognition:
    """:func:`read_names` with each crop's text already read (``(text, confidence)`` lines per crop,
    from :func:`~logolens.inference.ocr.text_in`): one reading can serve several galleries. The
    second look at the open set's rejections (:func:`read_turned`) needs the pixels, so it is the
    caller's to take (:func:`read_names` takes it)."""
    from logolens.inference.ocr import TEXT_RELIABILITY

    read, best, probabilities, other_word = _text_verdicts(result, texts, open_set)
    best_read = read[np.arange(len(best)), best]
    accepted = (result.accepted_before_reading | best_read) & ~other_word
    # a rejection by text is as sure as a reading: P(accept) at most 1 - TEXT_RELIABILITY
    accept_probability = np.where(other_word, np.minimum(result.accept_probability, 1.0 - TEXT_RELIABILITY), result.accept_probability)
    return Recognition(result.names, result.sources, probabilities, accepted, accept_probability.astype(np.float32), read, other_word)


class BrandRecognizer:
    """A classifier model folder with its gallery: what ``logolens classify`` runs. ``ocr``
    also reads the text in each crop (needs ``rapidocr``; see :mod:`logolens.inference.ocr`)."""

    def __init__(self, classifier: LogoClassifier, gallery: BrandGallery | None = None, ocr: bool = False):
        self.classifier = classifier
        self.gallery = active_gallery(gallery, classifier.brands_, getattr(classifier, "model_dir_", "model"))
        self.ocr = ocr
        if ocr:
            from logolens.inference.ocr import check_ocr

            check_ocr()
            warn_if_not_calibrated_for_text(self.gallery, getattr(classifier, "model_dir_", "model"))

    @classmethod
    def load(cls, directory: str | Path, runtime: str = "auto", ocr: bool = False) -> BrandRecognizer:
        classifier = LogoClassifier.load(directory, runtime=runtime)
        return cls(classifier, open_gallery(directory, required=False), ocr=ocr)

    def recognise(self, images: Sequence[Image.Image | str | Path], boxes: Sequence | None = None) -> Recognition:
        decoded = [as_image(image) for image in images]
        boxes = list(boxes) if boxes is not None else [None] * len(decoded)
        trained = self.classifier.predict_proba(decoded, boxes)
        brands = list(self.classifier.brands_)
        if self.gallery is None:
            n = len(decoded)
            result = Recognition(brands, ["trained"] * len(brands), trained, np.ones(n, bool), np.ones(n, np.float32))
        else:
            from logolens.gallery.enrol import embed_crops

            result = combine(trained, brands, self.gallery, embed_crops(decoded, boxes, self.gallery.views))
        return read_names(result, decoded, boxes, open_set=self.gallery is not None) if self.ocr else result

    def classify(self, images: Sequence[Image.Image | str | Path], top_k: int = 5) -> list[list[Prediction]]:
        """The ``top_k`` answers per image, best first; ``unknown`` first when nothing matches."""
        result = self.recognise(images)
        return [result.predictions(row, top_k) for row in range(len(images))]
