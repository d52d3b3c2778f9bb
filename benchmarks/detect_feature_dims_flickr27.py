"""The heads reading the principal components of the patch features (``--feature-dims N``): the time it saves.

The detector's six heads (three for the detector, three for the box refiner) read the frozen
backbone's 768 patch features through a 1x1 convolution, most of each training step. With
``--feature-dims N`` the cached grids are projected once onto their first N principal components
(fitted on the training grids) and every epoch reads N channels instead. This trains the seed-0
detector of ``benchmarks/detect_flickr27.py`` (same split: 80 % of the training side to learn, 20 %
to stop early and calibrate; same settings otherwise) with each ``--dims`` value (0: all 768, the
detector before the option existed) and scores each on the same test images and generated
backgrounds. Every missing detector is trained before any is scored, so with an empty
``--cache-dir`` the first one trained starts from nothing ("(empty cache)": the time a user waits);
give each its own empty cache dir (one run per value) to time them all that way.

    python benchmarks/detect_feature_dims_flickr27.py [--data PATH] [--dims 0 128] [--cache-dir DIR] [--reuse-models]
"""

from __future__ import annotations

from detect_variants import one_setting_rows, variant_parser, variant_tables
from results import command_line, write_section


def main() -> None:
    parser = variant_parser(__doc__, "runs/benchmarks/detect-feature-dims")
    parser.add_argument("--dims", type=int, nargs="+", default=[0, 128], help="feature dims to train and compare (0: all 768)")
    args = parser.parse_args()
    rows, points, n_test = one_setting_rows(args, "feature_dims", args.dims, "dims", label=lambda dims: str(dims or "all 768"))
    table, fixed_table = variant_tables("feature dims the heads read", rows, points)
    write_section("detect-feature-dims", f"""
## Heads reading the patch features' principal components (`--feature-dims`)

`{command_line()}`

The seed-0 split of the detection section; the detector trained with its six heads (detector and box refiner) reading
all 768 patch features of blocks 10 and 12, or their first N principal components (one projection fitted on the
training grids of each, applied to them once); same settings otherwise. Scored on the same {n_test} test images,
false alarms on the same 40 generated backgrounds. Training seconds as recorded when each was trained ("(empty
cache)": from nothing, the time a user waits with new data; a folder already in `--out`, with `--reuse-models`, is
scored as it is, with the time recorded when it was trained). At each model's calibrated no-logo threshold:

{table}

Image accuracy / false alarms at fixed `--min-score` values (the same predictions):

{fixed_table}
""")


if __name__ == "__main__":
    main()
