"""What the detector's training time buys: training scales and box-refiner views.

Most of the detector's training time on 2 CPU cores is the frozen backbone run over every training
photo once per training scale, and over every jittered crop the box refiner learns from, then the
heads' epochs over those cached grids, which grow with them. This trains the seed-0 detector of
``benchmarks/detect_flickr27.py`` (same split: 80 % of the training side to learn, 20 % to stop
early and calibrate; same settings otherwise) with each ``--variants`` recipe, written
``SCALES/VIEWS``: the training scales (``LogoDetector(train_scales=...)``, the photo's longest side
as a fraction of the canvas, comma-separated) and the jittered crops per box the refiner trains on
(``refine_views``). Each is scored on the same test images and generated backgrounds.

Training seconds are the time a user waits only when training starts with nothing cached: give an
empty ``--cache-dir`` (the first variant then trains from nothing, "(empty cache)"; the later ones
reuse what it cached). ``--baseline`` scores a detector already trained (by default
``detect_flickr27.py``'s seed-0 model, with its own recorded training time) as the first row.

    python benchmarks/detect_training_flickr27.py [--data PATH] [--variants 1.0/4 1.0/2] [--cache-dir DIR] [--reuse-models]
"""

from __future__ import annotations

import sys
from pathlib import Path

from detect_flickr27 import trained_or_loaded
from detect_variants import seed0_material, variant_parser, variant_rows, variant_tables
from results import command_line, write_section

from logolens.detector import LogoDetector


def parse_variant(text: str) -> tuple[tuple[float, ...], int]:
    """``"1.0,0.6/4"`` -> ``((1.0, 0.6), 4)``."""
    try:
        scales, views = text.split("/")
        return tuple(float(s) for s in scales.split(",")), int(views)
    except ValueError:
        sys.exit(f"--variants: {text!r} is not SCALES/VIEWS, e.g. 1.0,0.6/4")


def label(scales: tuple[float, ...], views: int) -> list[str]:
    return [" + ".join(f"{s:g}" for s in scales), str(views)]


def main() -> None:
    parser = variant_parser(__doc__, "runs/benchmarks/detect-training")
    parser.add_argument("--baseline", default="runs/benchmarks/detect/seed0", help="a detector already trained, scored first ('' for none)")
    parser.add_argument("--variants", nargs="+", default=["1.0/4", "1.0/2"], help="SCALES/VIEWS recipes to train and compare")
    args = parser.parse_args()
    outer, inner, backgrounds = seed0_material(args.data)
    rows, points = [], []
    recipes = [(Path(args.baseline), None)] if args.baseline else []
    recipes += [(Path(args.out) / text.replace(",", "-").replace("/", "-views"), parse_variant(text)) for text in args.variants]
    for folder, recipe in recipes:
        if recipe is None:
            if not (folder / "logolens.json").is_file():
                sys.exit(f"no detector in {folder}; run 'python benchmarks/detect_flickr27.py --seeds 0' first, or pass --baseline ''")
            detector, seconds = trained_or_loaded(folder, lambda: None, inner, reuse=True)
        else:
            scales, views = recipe
            detector, seconds = trained_or_loaded(
                folder, lambda: LogoDetector(train_scales=scales, refine_views=views, seed=0, cache_dir=args.cache_dir, progress=True),
                inner, args.reuse_models)
        row, point = variant_rows("", detector, seconds, outer.val, backgrounds)
        names = label(tuple(detector.train_scales), detector.refine_views)
        rows.append([*names, *row[1:]])
        points.append([*names, *point[1:]])
    table, fixed_table = variant_tables(["training scales", "refiner views per box"], rows, points)
    write_section("detect-training", f"""
## What training time buys: training scales and box-refiner views

`{command_line()}`

The seed-0 split of the detection section; the detector trained with each recipe (training scales: the photo's longest
side as a fraction of the 448-px canvas, one cached backbone pass over every training photo each; refiner views: the
jittered crops per training box the box refiner learns from, one backbone pass each), same settings otherwise. Scored on
the same {len(outer.val)} test images, false alarms on the same 40 generated backgrounds. Training seconds as recorded
when each was trained: "(empty cache)" is the time a user waits with new data; the others reused the grids cached
before them. The first row is the detector of the detection section (`--baseline`), scored again here with the
training time recorded when it was trained. At each model's calibrated no-logo threshold:

{table}

Image accuracy / false alarms at fixed `--min-score` values (the same predictions):

{fixed_table}
""")


if __name__ == "__main__":
    main()
