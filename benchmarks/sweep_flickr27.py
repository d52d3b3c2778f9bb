"""The learning-rate study the original post planned, with the pretrained backbones beside it.

Runs ``logolens sweep`` (the same library call) on FlickrLogos-27 with one image-level 80/20 split
(seed 0) and writes its table and comparison plot into RESULTS.md.

    python benchmarks/sweep_flickr27.py [--data PATH] [--lrs 1e-4 1e-3 3e-3 1e-2] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil

from results import FIGURES, command_line, flickr27_or_exit, write_section

from logolens.data.formats import load_dataset
from logolens.training.sweep import run_sweep, write_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FlickrLogos-27 folder (default: ../shared/datasets/flickr_logos_27)")
    parser.add_argument("--models", nargs="+", default=["seed-cnn", "dinov2-s14", "efficientnet-lite0"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[1e-4, 1e-3, 3e-3, 1e-2])
    parser.add_argument("--heads", nargs="+", default=["linear", "mlp"])
    parser.add_argument("--cache-dir", help="embedding cache (default: logolens' default cache)")
    parser.add_argument("--out", default="runs/benchmarks/sweep")
    args = parser.parse_args()
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    rows = run_sweep(dataset, args.models, lrs=args.lrs, heads=args.heads, cache_dir=args.cache_dir, progress=False)
    files = write_sweep(rows, args.out)
    FIGURES.mkdir(exist_ok=True)
    shutil.copyfile(files["plot"], FIGURES / "sweep.png")
    table = files["markdown"].read_text(encoding="utf-8")
    print(table)
    write_section("sweep", f"""
## Hyperparameter sweep: learning rate x head x model

`{command_line()}`

One image-level 80/20 split (seed 0), each model at its default input size and recipe except the learning rate
(and the head for pretrained backbones). Validation crops; best first. `train_seconds` includes embedding the
crops for the first run of each backbone (later runs read the embedding cache).

{table}
![validation accuracy against learning rate](figures/sweep.png)
""")


if __name__ == "__main__":
    main()
