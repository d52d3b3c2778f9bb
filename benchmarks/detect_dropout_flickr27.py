"""Feature dropout in detector training (``logolens train --task detect --feature-dropout P``): what it buys.

The detector's heads train on cached DINOv2 grids of a few hundred photos and learn them by heart
(in a run with four cached scales the validation loss was lowest after 14 of 60 epochs). Zeroing a share of the cached features
in each step regularises them. This trains the single-head seed-0 detector (``--heads 1``, that of
``benchmarks/detect_heads_flickr27.py``) again with each ``--dropout`` share, on the same split (80 %
of the training side to learn, 20 % to stop early and calibrate), and scores it beside that detector
(share 0, the default) on the same test images: the main table's columns at each model's calibrated
no-logo threshold, then image accuracy and false alarms at a few fixed ``--min-score`` values, since
the calibrated threshold is fitted on about a hundred validation photos and moves between models.
One head each: the comparison was made before ``--heads`` existed, with what was then the detector.

Needs the single-head detector of ``benchmarks/detect_heads_flickr27.py --heads 1`` (``--baseline``); run that first.

    python benchmarks/detect_dropout_flickr27.py [--data PATH] [--baseline DIR] [--dropout 0.3] [--cache-dir DIR] [--reuse-models]
"""

from __future__ import annotations

import sys
from pathlib import Path

from detect_flickr27 import trained_or_loaded
from detect_variants import seed0_material, variant_parser, variant_rows, variant_tables
from results import command_line, write_section

from logolens.detector import LogoDetector


def main() -> None:
    parser = variant_parser(__doc__, "runs/benchmarks/detect-dropout")
    parser.add_argument("--baseline", default="runs/benchmarks/detect-heads/heads1",
                        help="the single-head seed-0 detector (benchmarks/detect_heads_flickr27.py --heads 1)")
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.3], help="feature dropout shares to train with")
    args = parser.parse_args()
    baseline = Path(args.baseline)
    if not (baseline / "logolens.json").is_file():
        sys.exit(f"no detector in {baseline}; run 'python benchmarks/detect_heads_flickr27.py --heads 1' first")
    outer, inner, backgrounds = seed0_material(args.data)
    rows, points = [], []
    for share in [0.0, *args.dropout]:
        folder = baseline if share == 0.0 else Path(args.out) / f"dropout{share:g}"
        detector, seconds = trained_or_loaded(folder, lambda: LogoDetector(feature_dropout=share, heads=1, seed=0, cache_dir=args.cache_dir, progress=True),
                                              inner, args.reuse_models or share == 0.0)
        assert detector.feature_dropout == share and detector.heads == 1, (folder, detector.feature_dropout, detector.heads)
        row, point = variant_rows(f"{share:g}", detector, seconds, outer.val, backgrounds)
        rows.append(row)
        points.append(point)
    table, fixed_table = variant_tables("feature dropout", rows, points)
    write_section("detect-dropout", f"""
## Feature dropout in detector training (`--feature-dropout`)

`{command_line()}`

The single-head seed-0 detector (`--heads 1`, that of the section on averaged heads; feature dropout 0, the default)
beside the same single-head detector trained again with a share of its cached DINOv2 features zeroed at random in each
training step of its head and box refiner (same split, same settings otherwise: the comparison was made before
`--heads` existed); scored on the same {len(outer.val)} test images, false alarms on the same 40 generated
backgrounds. Training seconds as recorded when each was trained (the backbone's grids cached). At each model's
calibrated no-logo threshold:

{table}

Image accuracy / false alarms at fixed `--min-score` values (the same predictions; the calibrated threshold is fitted
on about a hundred validation photos, so it moves between models):

{fixed_table}

One training run per share: a retrained detector's numbers move by themselves (another draw of the masks), so read
a trend only where it is larger than the differences between neighbouring shares (averaging several heads, the
default since, is what steadies them).
""")


if __name__ == "__main__":
    main()
