"""The brand gallery: new brands from a few examples, without retraining.

* :mod:`~logolens.gallery.projection`: the whitening learned on the trained brands;
* :mod:`~logolens.gallery.index`: exact and approximate nearest-neighbour search;
* :mod:`~logolens.gallery.matching`: brand scores, the open-set (``unknown``) decision and its calibration;
* :mod:`~logolens.gallery.store`: :class:`BrandGallery`, stored atomically in a model folder;
* :mod:`~logolens.gallery.enrol`: embedding example images (with augmented views) to enrol a brand.
"""
