"""BrandGallery: changes, storage round trip, refusals, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from logolens.errors import GalleryError
from logolens.gallery.projection import Whitening
from logolens.gallery.store import BrandGallery


def make_gallery(dim: int = 8, seed: int = 0) -> BrandGallery:
    rng = np.random.default_rng(seed)
    brands = ["Alpha"] * 4 + ["Beta"] * 4
    vectors = rng.normal(size=(8, dim)).astype(np.float32)
    return BrandGallery("embedder-a", vectors, brands, ["trained"] * 8, [f"img{i}.jpg view 0" for i in range(8)],
                        Whitening.fit(vectors, brands), views=1)


def test_add_remove_export_import():
    gallery = make_gallery()
    rng = np.random.default_rng(1)
    gallery = gallery.add("  Gamma ", rng.normal(size=(3, 8)), ["g.jpg view 0", "g.jpg view 1", "h.jpg view 0"])
    assert gallery.trained_brands == ["Alpha", "Beta"] and gallery.enrolled_brands == ["Gamma"]
    assert gallery.names == ["Alpha", "Beta", "Gamma"]
    assert {r["brand"]: (r["source"], r["exemplars"], r["images"]) for r in gallery.summary()} == {
        "Alpha": ("trained", 4, 4), "Beta": ("trained", 4, 4), "Gamma": ("gallery", 3, 2)}
    more = gallery.add("Gamma", rng.normal(size=(1, 8)), ["i.jpg view 0"])
    assert more.summary()[-1]["exemplars"] == 4
    exported = more.exported()
    assert exported.enrolled_brands == ["Gamma"] and exported.trained_brands == [] and len(exported) == 4
    other = make_gallery(seed=2)
    imported = other.imported(exported)
    assert imported.enrolled_brands == ["Gamma"] and len(imported) == 12
    with pytest.raises(GalleryError, match="already enrolled"):
        imported.imported(exported)
    assert len(imported.imported(exported, replace=True)) == 12
    assert imported.remove("Gamma").enrolled_brands == []


@pytest.mark.parametrize("name, message", [("", "empty"), ("   ", "empty"), ("unknown", "reserved"), ("None", "reserved"),
                                           ("Alpha", "trained brands"), ("a\tb", "control characters")])
def test_bad_brand_names_are_refused(name, message):
    with pytest.raises(GalleryError, match=message):
        make_gallery().add(name, np.ones((1, 8)), ["x.jpg view 0"])


def test_no_examples_and_wrong_size_are_refused():
    with pytest.raises(GalleryError, match="no example images"):
        make_gallery().add("Gamma", np.zeros((0, 8)), [])
    with pytest.raises(GalleryError, match="do not fit"):
        make_gallery().add("Gamma", np.ones((1, 5)), ["x.jpg view 0"])


def test_remove_refuses_trained_and_unknown_brands():
    gallery = make_gallery().add("Gamma", np.ones((1, 8)), ["x.jpg view 0"])
    with pytest.raises(GalleryError, match="trained brand"):
        gallery.remove("Alpha")
    with pytest.raises(GalleryError, match="did you mean 'Gamma'"):
        gallery.remove("Gamm")


def test_save_load_round_trip_is_byte_identical(tmp_path):
    gallery = make_gallery().add("Gamma", np.arange(16, dtype=np.float32).reshape(2, 8), ["g.jpg [1,2,3,4] view 0", "g.jpg [1,2,3,4] view 1"])
    first = gallery.save(tmp_path / "a.npz")
    loaded = BrandGallery.load(first, embedder="embedder-a")
    second = loaded.save(tmp_path / "b.npz")
    assert first.read_bytes() == second.read_bytes()
    assert loaded.enrolled_brands == ["Gamma"] and loaded.views == 1
    np.testing.assert_array_equal(loaded.vectors, gallery.vectors)
    np.testing.assert_array_equal(loaded.projection.matrix, gallery.projection.matrix)
    assert loaded.calibration == gallery.calibration


def test_gallery_of_another_embedding_is_refused(tmp_path):
    path = make_gallery().save(tmp_path / "g.npz")
    with pytest.raises(GalleryError, match="made with embedding 'embedder-a'.*re-enrol"):
        BrandGallery.load(path, embedder="embedder-b")
    foreign = BrandGallery("embedder-b", np.ones((1, 8)), ["Gamma"], ["gallery"], ["x.jpg view 0"], views=1)
    with pytest.raises(GalleryError, match="re-enrol"):
        make_gallery().imported(foreign)


def test_unreadable_gallery_is_one_clear_error(tmp_path):
    bad = tmp_path / "gallery.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(GalleryError, match="gallery.npz: not a readable logolens gallery"):
        BrandGallery.load(bad)
    with pytest.raises(GalleryError, match="no such gallery file"):
        BrandGallery.load(tmp_path / "missing.npz")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = make_gallery().save(tmp_path / "g.npz")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        make_gallery().add("Gamma", np.ones((1, 8)), ["x.jpg view 0"]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.npz"]


def test_export_without_enrolled_brands_is_refused(tmp_path, monkeypatch):
    import logolens.gallery.folder as folder

    gallery = make_gallery()
    assert len(gallery.exported()) == 0 and gallery.exported().vectors.shape == (0, 8)
    model = tmp_path / "model"
    model.mkdir()
    (model / "logolens.json").write_text('{"format_version": 1}')
    gallery.save(model / "gallery.npz")
    monkeypatch.setattr(folder, "embedder_id", lambda: "embedder-a")
    with pytest.raises(GalleryError, match="no enrolled brands to export"):
        folder.export_brands(model, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
