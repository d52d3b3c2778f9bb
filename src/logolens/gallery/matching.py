"""From nearest neighbours to brands: trained or enrolled, which brand, or ``unknown``.

A query is scored against every brand by its most similar exemplar of that brand (brands with no
exemplar among the query's :data:`NEIGHBOURS` nearest get -1, the lowest cosine). Three
calibrated decisions follow, one small model each:

1. **Open set.** The best similarity over all brands: below ``threshold`` the logo is
   ``unknown``; ``accept_probability`` is a logistic model of "the best brand is right".
2. **Trained or enrolled.** ``P(enrolled)`` is a logistic model of the margin between the best
   enrolled and the best trained brand's similarity. (Probabilities straight from a softmax over
   all brands cannot do this: a trained brand has dozens of references and an enrolled one a
   few, and the trained classifier is over-confident on brands it never saw.)
3. **Which enrolled brand.** A softmax over the enrolled brands' similarities at a fitted
   temperature. Which trained brand is the trained classifier's job (:mod:`logolens.recognition`).

All of it is calibrated by simulation on the *trained* brands only (:func:`calibrate_open_set`):
in each round three quarters of them play the trained brands (their crops, less a fifth kept as
queries, are the references and fit the whitening), the other quarter is split into brands
enrolled from 1, 3 or 5 crops and brands never enrolled. The threshold is the similarity that
lets through :data:`FALSE_ACCEPT_TARGET` of the never-enrolled queries. Nothing of the new
brands or of held-out data is used.

**With the text read** (``--ocr``, :func:`logolens.recognition.with_texts`) the decision changes: a
crop whose text spells a brand's name is accepted whatever its similarity, and one whose text holds
another legible word (not a misreading of its best brand's name,
:func:`~logolens.inference.ocr.speaks_against`) is ``unknown``. That rule rejects most false accepts
by itself, so the visual threshold calibrated without it rejects far more than the target asks (on
FlickrLogos-27: 0.007 of never-enrolled brands' crops accepted against a target of 0.05). Given the
text of each reference crop, the same simulation also calibrates ``text_threshold``: the similarity
at which the never-enrolled queries accepted *under the text rule* are the target's share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from logolens.evaluation.calibration import fit_logistic, fit_temperature, softmax
from logolens.gallery.index import ExactIndex
from logolens.gallery.projection import Whitening

NEIGHBOURS = 64
FALSE_ACCEPT_TARGET = 0.05
SHOTS = (1, 3, 5)  # exemplars per simulated enrolled brand
TRAINED_QUERY_FRACTION = 0.2  # of each simulated trained brand's crops, held out as queries
# text_threshold's simulation: similarities live in [-1, 1], so these stand for "accepted whatever
# the similarity" (the text spells a brand's name) and "rejected whatever it is" (another word)
ALWAYS, NEVER = 2.0, -2.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))).astype(np.float32)


@dataclass(frozen=True)
class OpenSetCalibration:
    """The three calibrated decisions of the module docstring, and how well the simulation did.

    ``threshold``: minimum best similarity to name a brand; ``accept_*``: logistic P(the best
    brand is right) from the best similarity; ``route_*``: logistic P(enrolled) from the margin
    best enrolled minus best trained similarity; ``temperature``: of the softmax among enrolled
    brands. ``text_threshold``: the threshold of the decision with the crop's text read (``None``:
    calibrated without the reference crops' text; the visual ``threshold`` stands). ``simulated_*``
    are measured on the simulation's own queries.
    """

    threshold: float = 0.5
    accept_weight: float = 10.0
    accept_bias: float = -5.0
    route_weight: float = 20.0
    route_bias: float = 0.0
    temperature: float = 0.05
    false_accept_target: float = FALSE_ACCEPT_TARGET
    simulated_false_accept: float | None = None
    simulated_correct_accept: float | None = None
    simulated_route_accuracy: float | None = None
    simulated_queries: int = 0
    text_threshold: float | None = None
    simulated_text_false_accept: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> OpenSetCalibration:
        return cls(**payload)

    def accept_probability(self, best_similarity: np.ndarray) -> np.ndarray:
        return _sigmoid(self.accept_weight * np.asarray(best_similarity, np.float64) + self.accept_bias)

    def enrolled_probability(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self.route_weight * np.asarray(margin, np.float64) + self.route_bias)


def brand_similarities(parts: Sequence[tuple], queries: np.ndarray, n_brands: int) -> np.ndarray:
    """``(Q, n_brands)``: per query, the similarity of its most similar exemplar of each brand
    among the :data:`NEIGHBOURS` nearest found, else -1 (the lowest cosine).

    ``parts`` are ``(index, exemplar_columns)`` pairs searched separately: the trained references
    and the enrolled exemplars. So the best trained and the best enrolled brand are always found,
    however many references the trained brands have, and their margin is always defined."""
    out = np.full((len(queries), n_brands), -1.0, np.float32)
    for index, columns in parts:
        if not len(index):
            continue
        sims, ids = index.search(queries, NEIGHBOURS)
        for row, (row_sims, found) in enumerate(zip(sims, ids)):
            valid = found >= 0  # faiss pads missing neighbours with -1
            np.maximum.at(out[row], columns[found[valid]], row_sims[valid])
    return out


def decide(similarities: np.ndarray, enrolled: np.ndarray, calibration: OpenSetCalibration) -> dict[str, np.ndarray]:
    """The decisions for brand similarities ``(Q, B)``; ``enrolled`` marks the enrolled columns.

    Returns ``best`` (column), ``similarity`` (its value), ``accepted``, ``accept_probability``,
    ``enrolled_probability`` (P(an enrolled brand)) and ``enrolled_distribution`` ``(Q, E)``
    (softmax among the enrolled columns, in their order).
    """
    enrolled = np.asarray(enrolled, bool)
    n = len(similarities)
    best = similarities.argmax(axis=1) if similarities.size else np.zeros(n, np.int64)
    top = similarities.max(axis=1) if similarities.size else np.full(n, -1.0, np.float32)
    if enrolled.any() and (~enrolled).any():
        margin = similarities[:, enrolled].max(axis=1) - similarities[:, ~enrolled].max(axis=1)
        p_enrolled = calibration.enrolled_probability(margin)
    else:
        p_enrolled = np.full(n, float(enrolled.any()), np.float32)
    distribution = softmax(similarities[:, enrolled], calibration.temperature) if enrolled.any() else np.zeros((n, 0), np.float32)
    return {"best": best, "similarity": top, "accepted": top >= calibration.threshold,
            "accept_probability": calibration.accept_probability(top), "enrolled_probability": p_enrolled,
            "enrolled_distribution": distribution}


def calibrate_open_set(
    vectors: np.ndarray, brands: Sequence[str], groups: Sequence[str], rounds: int = 12,
    false_accept_target: float = FALSE_ACCEPT_TARGET, seed: int = 0, texts: Mapping[str, Sequence[tuple[str, float]]] | None = None,
) -> OpenSetCalibration:
    """Calibrate from raw embeddings of the trained brands (``groups``: the crop each vector
    comes from, so views of one crop never serve as both exemplar and query; a query is the mean
    of its crop's views, as at inference). Needs at least 4 brands with 3 crops each; otherwise
    the defaults stand (recorded with 0 simulated queries). ``texts`` (the ``(text, confidence)``
    lines read in each crop, by group) also calibrates ``text_threshold``."""
    brands = np.asarray(brands, dtype=object)
    groups = np.asarray(groups, dtype=object)
    crops_of = {b: sorted(set(groups[brands == b])) for b in sorted(set(brands))}
    eligible = [b for b, crops in crops_of.items() if len(crops) >= 3]
    if len(eligible) < 4:
        return OpenSetCalibration()
    rng = np.random.default_rng(seed)
    kinds = ("trained", "enrolled", "unknown")
    found: dict[str, list] = {kind: [] for kind in (*kinds, "enrolled_scores", "enrolled_labels", "unknown_texts")}
    for _ in range(rounds):
        order = list(rng.permutation(eligible))
        n_held = max(2, len(order) // 4)  # most brands stay "trained", as in real use
        held = order[:n_held]
        roles = {"trained": order[n_held:], "enrolled": held[: max(1, (n_held * 2) // 3)], "unknown": held[max(1, (n_held * 2) // 3) :]}
        gallery_rows, queries = [], {kind: [] for kind in kinds}
        for kind in ("trained", "enrolled"):
            for brand in roles[kind]:
                crops = list(rng.permutation(crops_of[brand]))
                if kind == "trained":
                    n_refs = len(crops) - max(1, int(round(TRAINED_QUERY_FRACTION * len(crops))))
                else:
                    n_refs = min(int(rng.choice(SHOTS)), len(crops) - 1)
                references = set(crops[:n_refs])
                rows = np.where(brands == brand)[0]
                gallery_rows += [r for r in rows if groups[r] in references]
                queries[kind] += [r for r in rows if groups[r] not in references]
        queries["unknown"] = list(np.where(np.isin(brands, roles["unknown"]))[0])
        trained_refs = [r for r in gallery_rows if brands[r] in roles["trained"]]
        project = Whitening.fit(vectors[trained_refs], brands[trained_refs])
        names = sorted(set(brands[gallery_rows]))
        column = {name: i for i, name in enumerate(names)}
        enrolled_columns = np.array([name in roles["enrolled"] for name in names])
        parts = []
        for part in (trained_refs, [r for r in gallery_rows if brands[r] in roles["enrolled"]]):
            parts.append((ExactIndex(project(vectors[part])), np.array([column[b] for b in brands[part]], np.int64)))
        for kind in kinds:
            if not queries[kind]:
                continue
            query_vectors, query_brands, query_crops = _crop_means(vectors, brands, groups, queries[kind])  # mean of the views
            per_brand = brand_similarities(parts, project(query_vectors), len(names))
            truth = np.array([column.get(b, -1) for b in query_brands])
            found[kind].append((per_brand, truth, enrolled_columns))
            if kind == "unknown" and texts is not None:
                found["unknown_texts"].append(([texts.get(crop, []) for crop in query_crops], names))
            if kind == "enrolled":
                found["enrolled_scores"].append(per_brand[:, enrolled_columns])
                found["enrolled_labels"].append(np.array([list(np.where(enrolled_columns)[0]).index(t) for t in truth]))
    return _fit_calibration(found, false_accept_target)


def _fit_calibration(found: dict[str, list], false_accept_target: float) -> OpenSetCalibration:
    """The three small models from the simulation's queries (see :func:`calibrate_open_set`)."""
    top, correct, margin, is_enrolled = {}, {}, [], []
    for kind in ("trained", "enrolled", "unknown"):
        rows = found[kind]
        top[kind] = np.concatenate([s.max(axis=1) for s, _, _ in rows]) if rows else np.zeros(0)
        correct[kind] = np.concatenate([s.argmax(axis=1) == t for s, t, _ in rows]) if rows else np.zeros(0, bool)
        if kind != "unknown":
            for s, _, e in rows:
                margin.append(s[:, e].max(axis=1) - s[:, ~e].max(axis=1))
                is_enrolled.append(np.full(len(s), kind == "enrolled"))
    negative = top["unknown"]
    threshold = float(np.quantile(negative, 1.0 - false_accept_target)) if len(negative) else 0.5
    known_top = np.concatenate([top["trained"], top["enrolled"]])
    known_correct = np.concatenate([correct["trained"], correct["enrolled"]])
    accept_w, accept_b = fit_logistic(np.concatenate([known_top, negative])[:, None],
                                      np.concatenate([known_correct, np.zeros(len(negative), bool)]).astype(float))
    margin, is_enrolled = np.concatenate(margin), np.concatenate(is_enrolled)
    route_w, route_b = fit_logistic(margin[:, None], is_enrolled.astype(float))
    # similarities live in [-1, 1]: fit on a x100 scale so fit_temperature's bounds do not bind
    temperature = fit_temperature(np.concatenate(found["enrolled_scores"]) * 100.0, np.concatenate(found["enrolled_labels"])) / 100.0
    routed = _sigmoid(route_w[0] * margin + route_b) >= 0.5
    text_threshold, text_false_accept = None, None
    if found["unknown_texts"] and len(negative):
        effective = np.concatenate([_text_rule_scores(s, crop_texts, names)
                                    for (s, _, _), (crop_texts, names) in zip(found["unknown"], found["unknown_texts"])])
        text_threshold = float(np.quantile(effective, 1.0 - false_accept_target))
        text_false_accept = float(np.mean(effective >= text_threshold))
    return OpenSetCalibration(
        threshold=threshold, accept_weight=float(accept_w[0]), accept_bias=float(accept_b), route_weight=float(route_w[0]),
        route_bias=float(route_b), temperature=float(temperature), false_accept_target=false_accept_target,
        simulated_false_accept=float(np.mean(negative >= threshold)) if len(negative) else None,
        simulated_correct_accept=float(np.mean(known_correct & (known_top >= threshold))),
        simulated_route_accuracy=float(np.mean(routed == is_enrolled)),
        simulated_queries=int(len(known_top) + len(negative)),
        text_threshold=text_threshold, simulated_text_false_accept=text_false_accept,
    )


def _text_rule_scores(similarities: np.ndarray, crop_texts: Sequence, names: Sequence[str]) -> np.ndarray:
    """Never-enrolled queries' best similarities (of their brand ``similarities`` over ``names``) as
    the text rule sees them: :data:`ALWAYS` for a crop whose text spells a gallery brand's name (the
    reading names it: accepted), :data:`NEVER` for one whose text holds a legible word that does not
    read like its best brand's name (``unknown``), its best similarity otherwise. The second look at
    such crops, turned (:func:`logolens.recognition.read_turned`), is left out: it would read
    reference crops again, and turned readings of a never-enrolled brand's crops that resemble the
    wrong brand's name are rare (on FlickrLogos-27 its false accepts did not change with it)."""
    from logolens.inference.ocr import name_matches, speaks_against

    best = similarities.argmax(axis=1)
    read = np.array([name_matches(t, names).any() for t in crop_texts], bool)
    other_word = np.array([speaks_against(t, names[b]) for t, b in zip(crop_texts, best)], bool)
    return np.where(read, ALWAYS, np.where(other_word, NEVER, similarities.max(axis=1)))


def _crop_means(vectors: np.ndarray, brands: np.ndarray, groups: np.ndarray, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean vector of each crop (group) among ``rows``, its brand and the crop."""
    rows = np.asarray(rows)
    crops, inverse = np.unique(groups[rows], return_inverse=True)
    sums = np.zeros((len(crops), vectors.shape[1]))
    np.add.at(sums, inverse, vectors[rows])
    first = np.zeros(len(crops), np.int64)
    first[inverse[::-1]] = rows[::-1]
    return (sums / np.bincount(inverse)[:, None]).astype(np.float32), brands[first], crops
