"""Reproduce the original post: the 3-layer Keras CNN trained from scratch on FlickrLogos-27.

Settings as published: 32x32 inputs (squashed, as Keras' flow_from_directory did), RMSprop lr 1e-4
with decay 1e-6 per step, batch 32, 150 epochs, categorical cross-entropy. The 647 images are
split 80/20 by image (stratified by brand), repeated for 3 seeds (split, initialisation and
shuffling all follow the seed). Two inputs are run on the same splits:

* ``crops``: the annotated logo boxes (every box of a training image; the project's setting);
* ``images``: whole photos labelled by brand (the post's setting, photos sorted in brand folders).

    python benchmarks/seed_cnn_flickr27.py [--data PATH] [--epochs 150] [--seeds 0 1 2] [--inputs crops images]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
from results import FIGURES, command_line, flickr27_or_exit, markdown_table, write_section

from logolens.classifier import LogoClassifier
from logolens.data.formats import load_dataset
from logolens.training.run import train_and_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FlickrLogos-27 folder (default: ../shared/datasets/flickr_logos_27)")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4, help="the post's 1e-4 by default; other values get their own section")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inputs", nargs="+", choices=("crops", "images"), default=["crops", "images"])
    parser.add_argument("--out", default="runs/benchmarks/seed-cnn")
    args = parser.parse_args()
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    header = ["input", "seed", "train/val images", "train/val samples", "train acc (last epoch)",
              "val top-1 (last epoch)", "val top-5", "best val top-1 (epoch)", "seconds"]
    rows, figures = [], []
    for kind in args.inputs:
        data = dataset if kind == "crops" else dataset.image_level()
        finals = []
        for seed in args.seeds:
            started = time.perf_counter()
            classifier = LogoClassifier(model="seed-cnn", image_size=args.image_size, epochs=args.epochs, lr=args.lr, decay=1e-6, seed=seed)
            out = Path(args.out) / f"{kind}-lr{args.lr:g}-seed{seed}"
            summary = train_and_report(data, out, classifier, val_fraction=0.2)
            history, val = classifier.history_, summary["val"]
            best = max(history, key=lambda row: row["val_accuracy"])
            finals.append((history[-1]["accuracy"], val["top1_accuracy"], val["top5_accuracy"]))
            rows.append([kind, str(seed), f"{summary['train_images']}/{summary['val_images']}",
                         f"{summary['train_samples']}/{val['n_samples']}", f"{finals[-1][0]:.3f}", f"{finals[-1][1]:.3f}",
                         f"{finals[-1][2]:.3f}", f"{best['val_accuracy']:.3f} ({best['epoch']})", f"{time.perf_counter() - started:.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        mean, std = np.mean(finals, axis=0), np.std(finals, axis=0)
        rows.append([f"**{kind}: mean ± std**", "", "", "", *(f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std)), "", ""])
        FIGURES.mkdir(exist_ok=True)
        figure = FIGURES / f"seed_cnn_{kind}_lr{args.lr:g}_history.png"
        shutil.copyfile(Path(args.out) / f"{kind}-lr{args.lr:g}-seed{args.seeds[0]}" / "history.png", figure)
        figures.append(f"![seed CNN on {kind}: training history, seed {args.seeds[0]}](figures/{figure.name})")
    table = markdown_table(header, rows)
    print(table)
    published = args.lr == 1e-4
    write_section("seed-cnn" if published else f"seed-cnn-lr{args.lr:g}", f"""
## {"The original experiment: seed CNN from scratch on FlickrLogos-27" if published else f"Seed CNN with learning rate {args.lr:g} (the post's planned learning-rate study)"}

`{command_line()}`

The post's Keras CNN (3 conv layers, 27-way softmax), {args.image_size}x{args.image_size} inputs, RMSprop lr {args.lr:g}
(decay 1e-6), batch 32, {args.epochs} epochs, on the {len(dataset)} images ({dataset.n_boxes} distinct boxes) split
80/20 by image, stratified by brand (5 of each brand's 24 images held out), seeds {', '.join(map(str, args.seeds))}.
`crops` classifies the annotated logo boxes, `images` the whole photos (the post's setting). Chance is 1/27 = 0.037.

{table}

Training histories (first seed); left to right in the table's order:

{chr(10).join(figures)}
""")


if __name__ == "__main__":
    main()
