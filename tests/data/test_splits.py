"""Image-level, stratified, reproducible splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from logolens.data.dataset import NO_LOGO, Box, ImageRecord, LogoDataset
from logolens.data.splits import split_dataset


def paths(part: LogoDataset) -> list[Path]:
    return [record.path for record in part]


def make_dataset(sizes: dict[str, int], folder: Path = Path("/data/images")) -> LogoDataset:
    """``sizes[brand]`` box-less images per brand (``none``: no-logo images), named by brand."""
    records = [
        ImageRecord(folder / f"{brand}_{i:03d}.jpg", 100, 80, brands=() if brand == NO_LOGO else (brand,))
        for brand, n in sizes.items()
        for i in range(n)
    ]
    return LogoDataset(tuple(records), name="toy")


SEEDS = [0, 1, 2, 7, 123]


@pytest.mark.parametrize("seed", SEEDS)
def test_no_image_on_two_sides(synthetic_dataset, seed):
    split = split_dataset(synthetic_dataset, val_fraction=0.25, test_fraction=0.2, seed=seed)
    train, val, test = set(paths(split.train)), set(paths(split.val)), set(paths(split.test))
    assert not train & val and not train & test and not val & test
    assert len(train) + len(val) + len(test) == len(synthetic_dataset)
    assert train | val | test == set(paths(synthetic_dataset))
    # every box of an image stays with it
    for part in (split.train, split.val, split.test):
        for record in part:
            assert record.boxes and record.boxes == synthetic_dataset[paths(synthetic_dataset).index(record.path)].boxes


def test_parts_keep_the_parent_brand_list(synthetic_dataset):
    split = split_dataset(synthetic_dataset, val_fraction=0.25, test_fraction=0.2, seed=0)
    for part in (split.train, split.val, split.test):
        assert part.brands == synthetic_dataset.brands
    assert split.part("val") is split.val
    with pytest.raises(ValueError, match="choose from: train, val, test"):
        split.part("validation")


def test_same_seed_same_split(synthetic_dataset):
    first = split_dataset(synthetic_dataset, 0.25, 0.1, seed=3)
    second = split_dataset(synthetic_dataset, 0.25, 0.1, seed=3)
    for name in ("train", "val", "test"):
        assert paths(first.part(name)) == paths(second.part(name))
    assert first.to_json() == second.to_json()


def test_different_seeds_differ(synthetic_dataset):
    vals = {tuple(paths(split_dataset(synthetic_dataset, 0.25, 0.0, seed=seed).val)) for seed in SEEDS}
    assert len(vals) == len(SEEDS)


def test_parts_are_in_dataset_order(synthetic_dataset):
    order = {path: i for i, path in enumerate(paths(synthetic_dataset))}
    split = split_dataset(synthetic_dataset, 0.25, 0.2, seed=1)
    for part in (split.train, split.val, split.test):
        positions = [order[p] for p in paths(part)]
        assert positions == sorted(positions)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_brand_with_two_or_more_images_is_validated(seed):
    dataset = make_dataset({"Acme": 3, "Bolt": 4, "Cora": 5, "Dune": 12, "Echo": 40, "Fizz": 2, "Gala": 1, NO_LOGO: 6})
    split = split_dataset(dataset, val_fraction=0.1, seed=seed)
    val = Counter(record.primary_brand for record in split.val)
    train = Counter(record.primary_brand for record in split.train)
    for brand in ("Acme", "Bolt", "Cora", "Dune", "Echo", "Fizz", NO_LOGO):
        assert val[brand] >= 1, brand
    for brand in ("Acme", "Bolt", "Cora", "Dune", "Echo", "Fizz", "Gala", NO_LOGO):
        assert train[brand] >= 1, brand  # always at least one training image
    assert val["Echo"] == 4  # round(40 * 0.1)
    assert val["Fizz"] == 1 and val["Gala"] == 0  # one image stays in training


@pytest.mark.parametrize(("n", "val_fraction", "test_fraction", "expected"), [
    (10, 0.2, 0.0, (8, 2, 0)),
    (10, 0.2, 0.3, (5, 2, 3)),
    (20, 0.25, 0.25, (10, 5, 5)),
    (4, 0.1, 0.1, (2, 1, 1)),
    (2, 0.5, 0.0, (1, 1, 0)),
    (2, 0.2, 0.0, (1, 1, 0)),
    (1, 0.5, 0.4, (1, 0, 0)),  # a lone image always trains
])
def test_part_sizes_per_brand(n, val_fraction, test_fraction, expected):
    split = split_dataset(make_dataset({"Acme": n, "Bolt": n}), val_fraction, test_fraction, seed=0)
    sizes = tuple(sum(r.primary_brand == "Acme" for r in split.part(p)) for p in ("train", "val", "test"))
    assert sizes == expected


def test_three_images_with_val_and_test_gives_one_of_each():
    split = split_dataset(make_dataset({"Acme": 3}), val_fraction=0.1, test_fraction=0.1, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (1, 1, 1)


def test_stratified_on_the_primary_brand():
    folder = Path("/data/images")
    records = []
    for i in range(10):  # Acme is the main brand of these, each also shows one Bolt
        records.append(ImageRecord(folder / f"a{i}.jpg", 100, 100, (Box(0, 0, 10, 10, "Acme"), Box(20, 20, 30, 30, "Acme"),
                                                                    Box(40, 40, 50, 50, "Bolt"))))
    for i in range(10):
        records.append(ImageRecord(folder / f"b{i}.jpg", 100, 100, (Box(0, 0, 10, 10, "Bolt"),)))
    split = split_dataset(LogoDataset(tuple(records)), val_fraction=0.2, seed=4)
    assert Counter(r.path.name[0] for r in split.val) == {"a": 2, "b": 2}


def test_primary_brand_tie_is_alphabetical_for_prefixes():
    record = ImageRecord(Path("x.jpg"), 100, 100, (Box(0, 0, 10, 10, "Cocacola"), Box(20, 20, 30, 30, "Coca")))
    assert record.primary_brand == "Coca"


def test_primary_brand_tie_is_alphabetical():
    record = ImageRecord(Path("x.jpg"), 100, 100, (Box(0, 0, 10, 10, "Pepsi"), Box(20, 20, 30, 30, "Cocacola")))
    assert record.primary_brand == "Cocacola"
    record = ImageRecord(Path("x.jpg"), 100, 100, (Box(0, 0, 10, 10, "Pepsi"), Box(20, 20, 30, 30, "Cocacola"),
                                                    Box(40, 40, 50, 50, "Pepsi")))
    assert record.primary_brand == "Pepsi"


@pytest.mark.parametrize(("val_fraction", "test_fraction", "message"), [
    (-0.1, 0.0, r"val_fraction must be in \[0, 1\), got -0.1"),
    (1.0, 0.0, r"val_fraction must be in \[0, 1\), got 1.0"),
    (0.2, 1.5, r"test_fraction must be in \[0, 1\), got 1.5"),
    (0.2, -0.01, "test_fraction"),
    (0.6, 0.4, r"val_fraction \+ test_fraction must be < 1, got 1"),
])
def test_fractions_out_of_range(val_fraction, test_fraction, message):
    with pytest.raises(ValueError, match=message):
        split_dataset(make_dataset({"Acme": 5}), val_fraction, test_fraction)


def test_zero_fractions_put_everything_in_train():
    dataset = make_dataset({"Acme": 5, "Bolt": 3})
    split = split_dataset(dataset, 0.0, 0.0)
    assert paths(split.train) == paths(dataset) and len(split.val) == 0 and len(split.test) == 0


def test_to_json_lists_names_relative_to_the_image_folder(synthetic_dataset):
    split = split_dataset(synthetic_dataset, 0.25, 0.2, seed=5)
    payload = split.to_json()
    assert payload["seed"] == 5 and payload["val_fraction"] == 0.25 and payload["test_fraction"] == 0.2
    for name in ("train", "val", "test"):
        assert payload[name] == [record.path.name for record in split.part(name)]
    assert sorted(payload["train"] + payload["val"] + payload["test"]) == sorted(p.name for p in paths(synthetic_dataset))


def test_to_json_keeps_sub_folders(tmp_path):
    dataset = LogoDataset(tuple(
        ImageRecord(tmp_path / brand / f"{i}.jpg", 10, 10, brands=(brand,)) for brand in ("Acme", "Bolt") for i in range(5)
    ))
    payload = split_dataset(dataset, 0.2, seed=0).to_json()
    assert sorted(payload["train"] + payload["val"]) == sorted(f"{b}/{i}.jpg" for b in ("Acme", "Bolt") for i in range(5))
    assert len(payload["val"]) == 2 and {name.split("/")[0] for name in payload["val"]} == {"Acme", "Bolt"}


def test_image_level_keeps_each_image_in_its_split_stratum():
    from logolens.data.dataset import Box, ImageRecord, LogoDataset

    both = ImageRecord(Path("both.jpg"), 100, 100, (Box(0, 0, 10, 10, "Cola"), Box(20, 20, 30, 30, "Pepsi"), Box(40, 40, 50, 50, "Pepsi")))
    one = ImageRecord(Path("one.jpg"), 100, 100, (Box(0, 0, 10, 10, "Cola"),))
    none = ImageRecord(Path("none.jpg"), 100, 100)
    dataset = LogoDataset((both, one, none))
    whole = dataset.image_level()
    assert [r.boxes for r in whole] == [(), (), ()]
    assert [r.brands for r in whole] == [("Pepsi",), ("Cola",), ()]
    assert [r.primary_brand for r in whole] == [r.primary_brand for r in dataset]
    assert whole.brands == dataset.brands
