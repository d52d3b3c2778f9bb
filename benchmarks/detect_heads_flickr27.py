"""Averaging several dense heads (``logolens train --task detect --heads N``): what it buys.

A head learnt from a few hundred cached photos depends a lot on its draw of initial weights and
batch order: on the seed-0 split the detector's head alone (no refiner, no re-scoring) scored
mAP@0.5 0.29-0.39 across training seeds and schedules. This trains the seed-0 detector of
``benchmarks/detect_flickr27.py`` (same split: 80 % of the training side to learn, 20 % to stop
early and calibrate; same settings otherwise) with each ``--heads`` count, the box refiner's head
averaged the same way, and scores each on the same test images and generated backgrounds.
``--heads 1`` is the single-head detector; its training is that of ``detect_flickr27.py``'s
seed-0 detector before ``--heads`` existed, so a copy of that folder can stand in for it.

    python benchmarks/detect_heads_flickr27.py [--data PATH] [--heads 1 3] [--cache-dir DIR] [--reuse-models]
"""

from __future__ import annotations

from detect_variants import one_setting_rows, variant_parser, variant_tables
from results import command_line, write_section


def main() -> None:
    parser = variant_parser(__doc__, "runs/benchmarks/detect-heads")
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 3], help="head counts to train and compare")
    args = parser.parse_args()
    rows, points, n_test = one_setting_rows(args, "heads", args.heads, "heads")
    table, fixed_table = variant_tables("heads", rows, points)
    write_section("detect-heads", f"""
## Several dense heads, averaged (`--heads`)

`{command_line()}`

The seed-0 split of the detection section; the detector trained with each number of dense heads (each on its own
draw: initial weights, batch order), their heatmaps, boxes and brands averaged, for the detection head and the box
refiner alike; same settings otherwise. Scored on the same {n_test} test images, false alarms on the same 40
generated backgrounds. Training seconds as recorded when each was trained (the backbone's grids cached). At each
model's calibrated no-logo threshold:

{table}

Image accuracy / false alarms at fixed `--min-score` values (the same predictions):

{fixed_table}
""")


if __name__ == "__main__":
    main()
