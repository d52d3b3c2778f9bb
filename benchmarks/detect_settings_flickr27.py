"""How many boxes to refine and re-score, each setting recalibrated (``logolens calibrate``): accuracy and speed.

The detection benchmark's speed table changes these settings on the seed-0 detector without
recalibrating it, so its scores and no-logo threshold are those fitted for the defaults. Here each
setting gets its own calibration and threshold, fitted on the detector's own validation images (the
20 % of the training side it stopped early and calibrated on), as ``logolens calibrate --refine N
--refine-passes P --rescore N`` does for a folder ``logolens train`` wrote, then is scored on the
seed-0 test images (the 20 % no model saw) end to end on 2 threads.

Needs the seed-0 detector of ``benchmarks/detect_flickr27.py`` (in ``--models``, default
``runs/benchmarks/detect``); run that first.

    python benchmarks/detect_settings_flickr27.py [--data PATH] [--models DIR] [--cache-dir DIR]
"""

from __future__ import annotations

import torch
from detect_flickr27 import false_alarm_rate, scored, seed0_detector_and_split, seed0_parser, table_values
from results import command_line, machine_speed, markdown_table, write_section

from logolens.detector import LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS
from logolens.models import precision

SETTINGS = ((3, 1, 3), (5, 1, 5), (8, 1, 8), (12, 1, 12), (5, 2, 5))  # (boxes refined, refiner passes, boxes re-scored); (5, 1, 5): the default


def main() -> None:
    parser = seed0_parser(__doc__)
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder, outer, inner = seed0_detector_and_split(args.models, args.data)
    rows = []
    for refine, passes, rescore in SETTINGS:
        detector = LogoDetector.load(folder, runtime="torch")
        detector.refine, detector.refine_passes, detector.rescore = refine, passes, rescore
        detector.cache_dir, detector.progress = args.cache_dir, True
        detector.recalibrate(inner.val)
        report, per_image = scored(detector, outer.val, detector.threshold_)
        values = table_values(report, false_alarm_rate(detector))
        rows.append([str(refine), str(passes), str(rescore), *(f"{v:.3f}" for v in (*values[:4], values[5], *values[7:])),
                     f"{detector.threshold_:.2f}", f"{1 / per_image:.2f}"])
        print(" | ".join(rows[-1]), flush=True)
    speed_of_day = machine_speed()
    table = markdown_table(["boxes refined per image", "refiner passes", "boxes re-scored per image", "mAP@0.5", "mAP@[.5:.95]",
                            "image accuracy", "image precision", "false alarms (generated backgrounds)",
                            *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "threshold", "images/s"], rows)
    print(table)
    write_section("detect-settings", f"""
## Boxes refined and re-scored, each setting recalibrated (`logolens calibrate`)

`{command_line()}`

The seed-0 detector of the detection section, its calibration and no-logo threshold refitted for each setting on its own
validation images (as `logolens calibrate --refine N --refine-passes P --rescore N` does), scored on the same
{len(outer.val)} test images as there; false alarms on the same 40 generated backgrounds. Backbone inference in
{precision.chosen_precision()}, 2 threads, end to end; during this run DINOv2 embedded {speed_of_day:.1f} crops/s in float32
(eager PyTorch, batch 32, 2 threads), which moves with the machine's speed of the day.

{table}
""")


if __name__ == "__main__":
    main()
