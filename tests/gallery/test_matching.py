"""Open-set decisions and their calibration by simulation on trained brands."""

from __future__ import annotations

import numpy as np

from logolens.gallery.index import ExactIndex
from logolens.gallery.matching import OpenSetCalibration, brand_similarities, calibrate_open_set, decide
from logolens.gallery.projection import Whitening


def crops(n_brands: int, crops_per_brand: int, seed: int, spread: float = 0.6, dim: int = 24):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_brands, dim))
    x = np.concatenate([c + spread * rng.normal(size=(crops_per_brand, dim)) for c in centres]).astype(np.float32)
    brands = np.repeat([f"s{seed}-{i}" for i in range(n_brands)], crops_per_brand)
    return x, brands, [f"crop{seed}-{i}" for i in range(len(x))]


def test_brand_similarities_search_each_part_separately():
    trained = np.eye(4, dtype=np.float32)[:3]
    enrolled = np.eye(4, dtype=np.float32)[3:]
    parts = [(ExactIndex(trained), np.array([0, 0, 1])), (ExactIndex(enrolled), np.array([2]))]
    query = np.array([[0.8, 0.6, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(brand_similarities(parts, query, 3), [[0.8, 0.0, 0.0]], atol=1e-6)


def test_decide_routes_rejects_and_normalises():
    calibration = OpenSetCalibration(threshold=0.5, route_weight=50.0, route_bias=0.0, temperature=0.05)
    similarities = np.array([[0.9, 0.2, 0.3], [0.2, 0.3, 0.8], [0.3, 0.1, 0.2]], np.float32)
    out = decide(similarities, np.array([False, False, True]), calibration)
    assert out["best"].tolist() == [0, 2, 0]
    assert out["accepted"].tolist() == [True, True, False]
    assert out["enrolled_probability"][0] < 0.01 and out["enrolled_probability"][1] > 0.99
    assert out["enrolled_distribution"].shape == (3, 1) and np.allclose(out["enrolled_distribution"], 1.0)


def test_calibrated_threshold_holds_its_false_accept_rate_on_new_brands():
    x, brands, groups = crops(16, 8, seed=0)
    calibration = calibrate_open_set(x, brands, groups)
    assert calibration.simulated_queries > 0 and abs(calibration.simulated_false_accept - 0.05) < 0.03
    # a fresh world: the 16 trained brands, 3 enrolled from 3 crops, 3 never enrolled
    new_x, new_brands, _ = crops(6, 8, seed=1)
    projection = Whitening.fit(x, brands)
    enrolled_rows = np.concatenate([np.where(new_brands == b)[0][:3] for b in np.unique(new_brands)[:3]])
    names = [*np.unique(brands), *np.unique(new_brands)[:3]]
    column = {n: i for i, n in enumerate(names)}
    parts = [(ExactIndex(projection(x)), np.array([column[b] for b in brands])),
             (ExactIndex(projection(new_x[enrolled_rows])), np.array([column[b] for b in new_brands[enrolled_rows]]))]
    unknown = np.isin(new_brands, np.unique(new_brands)[3:])
    known = np.isin(new_brands, np.unique(new_brands)[:3]) & ~np.isin(np.arange(len(new_brands)), enrolled_rows)
    enrolled_mask = np.array([n in set(new_brands) for n in names])
    decision = decide(brand_similarities(parts, projection(new_x), len(names)), enrolled_mask, calibration)
    assert decision["accepted"][unknown].mean() <= 0.2
    right = np.array(names)[decision["best"]] == new_brands
    assert (right & decision["accepted"])[known].mean() >= 0.6
    assert decision["enrolled_probability"][known].mean() >= 0.7


def test_too_few_brands_keep_the_defaults():
    x, brands, groups = crops(3, 5, seed=0)
    assert calibrate_open_set(x, brands, groups) == OpenSetCalibration()


def test_text_threshold_counts_what_the_text_decides():
    x, brands, groups = crops(16, 8, seed=0)
    plain = calibrate_open_set(x, brands, groups)
    assert plain.text_threshold is None  # no text read: --ocr keeps the visual threshold
    nothing_read = calibrate_open_set(x, brands, groups, texts={})
    assert nothing_read.text_threshold == plain.threshold and nothing_read.threshold == plain.threshold
    # a slogan on 3 crops in 4 makes them unknown whatever their similarity: the threshold can come down
    slogans = calibrate_open_set(x, brands, groups, texts={g: [("SPARKLING", 0.9)] for i, g in enumerate(groups) if i % 4})
    assert slogans.threshold == plain.threshold and slogans.text_threshold < plain.threshold - 0.05
    assert abs(slogans.simulated_text_false_accept - 0.05) < 0.03
    # unread (low confidence) text changes nothing
    faint = calibrate_open_set(x, brands, groups, texts={g: [("SPARKLING", 0.2)] for i, g in enumerate(groups) if i % 4})
    assert faint.text_threshold == plain.threshold
    # a crop whose text spells a gallery brand's name is accepted whatever its similarity: less room for the rest
    names = calibrate_open_set(x, brands, groups, texts={g: [(str(b), 0.9)] for g, b in zip(groups[::40], brands[::40])})
    assert names.text_threshold > plain.threshold


def test_the_text_rule_of_the_simulation_is_the_rule_of_inference():
    from logolens.gallery.matching import ALWAYS, NEVER, _text_rule_scores

    similarities = np.array([[0.4, 0.1], [0.1, 0.4], [0.3, 0.2], [0.3, 0.2]], np.float32)
    texts = [[("afone", 0.9)], [("afone", 0.9)], [("SPARKLING", 0.9)], [("www.ford.com", 0.9)]]
    scores = _text_rule_scores(similarities, texts, ["Vodafone", "Ford"])
    # a misreading of its best brand's name is no other word: the crop keeps its similarity; of another brand's, it is;
    # a gallery brand's name read is accepted whatever the similarity
    np.testing.assert_allclose(scores, [0.4, NEVER, NEVER, ALWAYS])
