"""Logo detection on whole FlickrLogos-27 photos: mAP, image-level accuracy, speed, training time.

For each seed the 647 images are split image-level 80/20 exactly as in the other benchmarks (same
seed, same split, so the 20 % test images are the validation images of the crop benchmarks). The
detector never sees them: it trains on 80 % of the 80 % and uses the other 20 % of it for early
stopping, score calibration and the no-logo threshold. Detections are scored at the model's own
threshold (image-level numbers) and over all scores (mAP, with pycocotools). False alarms are
counted on 40 generated logo-free backgrounds the calibration never saw (another seed). The
training-phases table says where each detector's training time went (``training_phases`` in its manifest).

The speed table reruns the seed-0 model on the test images with fewer refined and re-scored boxes,
end to end (decode, letterbox, backbone, head, crops, calibration, NMS) on 2 threads, in PyTorch
(float32, and bfloat16 where the CPU has it natively) and with the int8 onnxruntime exports. The
tiles table looks at the same test images in overlapping tiles as well (``--tiles``), the seed-0
model recalibrated for it on its own validation images; the text table reads each test photo's text
as well (``--ocr``, when rapidocr is installed), the seed-0 model recalibrated for that the same way.

    python benchmarks/detect_flickr27.py [--data PATH] [--seeds 0 1 2] [--image-size 448] [--reuse-models]
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from results import FIGURES, benchmark_parser, command_line, flickr27_or_exit, machine_speed, markdown_table, write_section

from logolens.data.formats import load_dataset
from logolens.data.splits import split_dataset
from logolens.data.synthetic import render_background
from logolens.detector import TRAINING_PHASES, LogoDetector
from logolens.evaluation.detection import SHARE_BUCKETS, box_share, detection_report, write_detection_report
from logolens.inference.embeddings import default_cache_dir
from logolens.inference.ocr import ocr_available
from logolens.models import precision

SPEED_SETTINGS = {  # (runtime, precision): (boxes refined, refiner passes, boxes re-scored) per image
    ("torch", "float32"): ((0, 1, 0), (5, 1, 5), (5, 2, 5)),
    ("torch", "bfloat16"): ((0, 1, 0), (1, 1, 1), (2, 1, 2), (3, 1, 3), (5, 1, 5), (5, 2, 5), (8, 1, 8)),
    ("onnx", "float32"): ((0, 1, 0), (1, 1, 1), (5, 1, 5)),
}
TILES = (2,)  # tiles per side tried on top of the whole view (the default, 0, is the main table)


def phase_row(seed: int, phases: dict, train_seconds: str) -> list[str]:
    """A row of the training-phases table: seconds of each of :data:`TRAINING_PHASES` and the total cell."""
    return [str(seed), *(f"{phases[name]:.0f}" if name in phases else "unknown" for name in TRAINING_PHASES), train_seconds]


def background_pictures(n: int = 40, seed: int = 1000) -> list:
    """The generated logo-free backgrounds false alarms are counted on (a seed calibration never uses)."""
    rng = np.random.default_rng(seed)
    return [render_background(rng, (int(rng.integers(300, 500)), int(rng.integers(240, 400)))) for _ in range(n)]


def seed0_parser(doc: str):
    """The argument parser of the scripts that build on this one's seed-0 detector (``--models``)."""
    parser = benchmark_parser(doc, seeds=False)
    parser.add_argument("--models", default="runs/benchmarks/detect", help="where detect_flickr27.py saved its detectors")
    return parser


def seed0_detector_and_split(models: str, data: str | None) -> tuple[Path, object, object]:
    """For the scripts that build on this one: the folder of its seed-0 detector (exits if it is
    missing), and seed 0's outer split (test = ``outer.val``) and inner split (calibration = ``inner.val``)."""
    folder = Path(models) / "seed0"
    if not (folder / "logolens.json").is_file():
        sys.exit(f"no seed-0 detector in {folder}; run 'python benchmarks/detect_flickr27.py --seeds 0' first")
    return (folder, *seed0_splits(data))


def seed0_splits(data: str | None) -> tuple[object, object]:
    """Seed 0's outer split (test = ``outer.val``) and inner split (calibration = ``inner.val``)."""
    outer = split_dataset(load_dataset(flickr27_or_exit(data), format="flickr27"), 0.2, 0.0, 0)
    return outer, split_dataset(outer.train, 0.2, 0.0, 0)


def cache_is_empty(cache_dir: str | None) -> bool:
    """Whether training starts from nothing cached (the backbone run on every photo and crop: the
    training time a user with new data waits), for the training-seconds column."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    return not folder.is_dir() or not any(folder.iterdir())


def trained_or_loaded(folder: Path, make, inner, reuse: bool) -> tuple[LogoDetector, str]:
    """The detector in ``folder`` when ``reuse`` and it is there, else ``make()`` trained on the
    inner split (resumable in ``folder``) and saved there with its training seconds and whether
    training started from an empty cache (:func:`cache_is_empty`); and the training-seconds cell:
    ``"2108 (empty cache)"``, ``"816 (cache as found)"``, or ``"unknown"`` for a folder that never
    recorded them."""
    if reuse and (folder / "logolens.json").is_file():
        detector = LogoDetector.load(folder, runtime="torch")
        seconds, cache_state = detector.manifest_.get("training_seconds"), detector.manifest_.get("training_cache")  # as measured then
    else:
        detector = make()
        cache_state = "empty cache" if cache_is_empty(detector.cache_dir) else "cache as found"
        started = time.perf_counter()
        detector.fit(inner.train, inner.val, checkpoint_dir=folder)
        seconds = round(time.perf_counter() - started, 1)
        detector.save(folder, extra={"training_seconds": seconds, "training_cache": cache_state})
    if seconds is None:
        return detector, "unknown"
    return detector, f"{seconds:.0f}" + (f" ({cache_state})" if cache_state else "")


def false_alarm_rate(detector: LogoDetector, n: int = 40, seed: int = 1000, ocr: bool = False) -> float:
    return float(np.mean([len(detector.detect(p, ocr=ocr)) > 0 for p in background_pictures(n, seed)]))


def scored(detector: LogoDetector, test, threshold: float, ocr: bool = False) -> tuple[dict, float]:
    started = time.perf_counter()
    predictions = [detector.detect(r.path, min_score=0.0, ocr=ocr) for r in test]
    per_image = (time.perf_counter() - started) / len(test)
    return detection_report(list(test), predictions, detector.brands_, threshold), per_image


def table_values(report: dict, alarms: float) -> list[float]:
    """The main table's numbers of one detection report and its false-alarm rate, in column order."""
    level = report["image_level"]
    return [report["map50"], report["map"], level["accuracy"], level["precision"], level["recall"], alarms,
            report["size_recall"]["small"]["recall_any"] or 0.0,
            *(report["share_recall"][name]["recall_any"] or 0.0 for name in SHARE_BUCKETS)]


def tile_row(tiles: int, values: list[float], per_image: float, threshold: float) -> list[str]:
    """A row of the tiles table from the main table's ``values`` (:func:`table_values`)."""
    shown = [*values[:4], values[5], *values[7:]]  # mAP, mAP, accuracy, precision, false alarms, share recalls
    return [str(tiles), str(1 + (tiles * tiles if tiles > 1 else 0)), *(f"{v:.3f}" for v in shown),
            f"{threshold:.2f}", f"{1 / per_image:.2f}"]


def text_row(label: str, values: list[float], per_image: float, threshold: float) -> list[str]:
    """A row of the text table from the main table's ``values`` (:func:`table_values`)."""
    return [label, *(f"{v:.3f}" for v in (*values[:6], *values[7:])), f"{threshold:.2f}", f"{1 / per_image:.2f}"]


def share_bucket_counts(report: dict, test) -> str:
    """``73 boxes in 18 images`` per share bucket: one photo of many small logos can fill a bucket."""
    parts = []
    for name, (low, high) in SHARE_BUCKETS.items():
        images = sum(any(low <= box_share(r, b) < high for b in r.boxes) for r in test)
        parts.append(f"{name}: {report['share_recall'][name]['n_boxes']} boxes in {images} images")
    return "; ".join(parts)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="runs/benchmarks/detect")
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    parser.add_argument("--reuse-models", action="store_true",
                        help="score the detectors an earlier run left in --out instead of training them again")
    args = parser.parse_args()
    torch.set_num_threads(2)
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    rows, results, phase_rows = [], [], []
    for seed in args.seeds:
        outer = split_dataset(dataset, 0.2, 0.0, seed)
        inner = split_dataset(outer.train, 0.2, 0.0, seed)
        out = Path(args.out) / f"seed{seed}"
        detector, train_seconds = trained_or_loaded(
            out, lambda: LogoDetector(image_size=args.image_size, epochs=args.epochs, seed=seed, cache_dir=args.cache_dir, progress=True),
            inner, args.reuse_models)
        report, per_image = scored(detector, outer.val, detector.threshold_)
        files = write_detection_report(report, out, stem="test")
        alarms = false_alarm_rate(detector)
        values = table_values(report, alarms)
        results.append(values)
        rows.append([str(seed), *(f"{v:.3f}" for v in values), f"{detector.threshold_:.2f}", train_seconds, f"{1 / per_image:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
        phase_rows.append(phase_row(seed, detector.training_phases_, train_seconds))
        if seed == args.seeds[0]:
            FIGURES.mkdir(exist_ok=True)
            shutil.copyfile(files["pr"], FIGURES / "detect_pr.png")
            first, first_test, first_val = detector, outer.val, inner.val
            tile_rows = [tile_row(0, values, per_image, detector.threshold_)]
            text_rows = [text_row("no", values, per_image, detector.threshold_)]
            share_counts = share_bucket_counts(report, outer.val)
    speed_rows = []
    first_dir = Path(args.out) / f"seed{args.seeds[0]}"
    first.export_onnx(quantize=True)
    for (runtime, number_format), settings in SPEED_SETTINGS.items():
        if number_format == "bfloat16" and not precision.cpu_has_fast_bfloat16():
            continue
        with precision.forced(number_format):
            loaded = LogoDetector.load(first_dir, runtime=runtime)
            for refine, passes, rescore in settings:
                loaded.refine, loaded.refine_passes, loaded.rescore = refine, passes, rescore
                report, per_image = scored(loaded, first_test, loaded.threshold_)
                label = f"torch {number_format}" if runtime == "torch" else "onnx int8"
                speed_rows.append([label, str(refine), str(passes if refine else 0), str(rescore), f"{report['map50']:.3f}",
                                   f"{report['image_level']['accuracy']:.3f}", f"{1 / per_image:.2f}"])
                print(" | ".join(speed_rows[-1]), flush=True)
    for tiles in TILES:
        tiled = LogoDetector.load(first_dir, runtime="torch")
        tiled.cache_dir, tiled.tiles = args.cache_dir, tiles
        tiled.recalibrate(first_val)
        report, per_image = scored(tiled, first_test, tiled.threshold_)
        tile_rows.append(tile_row(tiles, table_values(report, false_alarm_rate(tiled)), per_image, tiled.threshold_))
        print(" | ".join(tile_rows[-1]), flush=True)
    if ocr_available():  # the photo's text read, the seed-0 model calibrated for it on its own validation images
        reading = LogoDetector.load(first_dir, runtime="torch")
        reading.cache_dir, reading.read_text = args.cache_dir, True
        reading.recalibrate(first_val)
        report, per_image = scored(reading, first_test, reading.text_threshold_, ocr=True)
        text_rows.append(text_row("yes (`--ocr`)", table_values(report, false_alarm_rate(reading, ocr=True)), per_image, reading.text_threshold_))
        print(" | ".join(text_rows[-1]), flush=True)
    speed_of_day = machine_speed()
    mean, std = np.mean(results, axis=0), np.std(results, axis=0)
    header = ["seed", "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision", "image recall",
              "false alarms (generated backgrounds)", "small-logo recall",
              *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "threshold", "training s", "images/s"]
    per_seed = markdown_table(header, rows)
    spread = len(results) > 1  # one seed has no spread to show
    summary = markdown_table(header[1:len(values) + 1], [[f"{m:.3f}" + (f" ± {s:.3f}" if spread else "") for m, s in zip(mean, std)]])
    speed = markdown_table(["runtime", "boxes refined per image", "refiner passes", "boxes re-scored per image", "mAP@0.5", "image accuracy",
                            "images/s (2 threads, end to end)"], speed_rows)
    tiles_table = markdown_table(["tiles per side", "backbone passes per photo", "mAP@0.5", "mAP@[.5:.95]", "image accuracy",
                                  "image precision", "false alarms (generated backgrounds)",
                                  *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS), "threshold",
                                  "images/s (bfloat16)" if precision.cpu_has_fast_bfloat16() else "images/s"], tile_rows)
    text_table = markdown_table(["photo's text read", "mAP@0.5", "mAP@[.5:.95]", "image accuracy", "image precision", "image recall",
                                 "false alarms (generated backgrounds)", *(f"recall, logo {name} of the photo" for name in SHARE_BUCKETS),
                                 "threshold", "images/s"], text_rows)
    phases = markdown_table(["seed", *TRAINING_PHASES, "training s"], phase_rows)
    print(summary, phases, sep="\n\n")
    write_section("detect", f"""
## Logo detection in whole photos (FlickrLogos-27)

`{command_line()}`

Image-level 80/20 splits as above (seeds {', '.join(map(str, args.seeds))}); the detector trains on 80 % of the
training side and calibrates on the other 20 %; scores are on the {len(first_test)} held-out test images.
Backbone inference in {precision.chosen_precision()} (the default on this CPU, see the speed table for the others).
Canvas {args.image_size} px; {first.heads} dense heads (trained apart, outputs averaged: `--heads`) on the frozen DINOv2 ViT-S/14 patch grid
(tokens of blocks 10 and 12; boxes learnt by GIoU plus an L1 loss on the log distances to the box sides), the best 5
candidates re-drawn by the box refiner (as many dense heads on a 224-px crop around each, one pass) and re-scored by
the DINOv2 crop classifier (27 brands and a background class learnt from the head's false peaks on training photos),
logistic calibration, class-aware NMS. mAP with pycocotools (all detections); image-level numbers at the
model's calibrated no-logo threshold (the image's answer is its best detection's brand, or `none`).
Recall columns count a box found when any detection (any score) of its brand overlaps it at IoU >= 0.5: "small"
is COCO's absolute size (under 32 x 32 px), "logo under 0.1 of the photo" and the others bucket boxes by
sqrt(w h) / the photo's longest side, the size the detector's letterboxed canvas actually sees
(seed {args.seeds[0]}'s test images: {share_counts}).

{'Mean ± std over seeds' if spread else 'One seed, so no spread over seeds'}:

{summary}

Per seed:

{per_seed}

Where the training time goes (seconds of each part of `LogoDetector.fit`, as recorded in the model's manifest when it
was trained, `training_phases`; "unknown" for a detector saved before it was recorded). Patch grids, box refiner grids,
the crop classifier's crops and calibration's photos are mostly passes of the backbone (the last column says whether
training started from an empty cache, the time a user with new data waits); the heads are the dense heads' epochs on
the cached grids (detector and box refiner):

{phases}

Accuracy and speed by number of refined / re-scored boxes and refiner passes (seed {args.seeds[0]} model, same test
images; the calibration was fitted with the defaults, 5 boxes / 1 pass / 5 boxes, so other settings are not
recalibrated). Speeds move with the machine's speed of the day: during this run DINOv2 embedded
{speed_of_day:.1f} crops/s in float32 (eager PyTorch, batch 32, 2 threads; 17.7 when the pretrained-backbone section was measured):

{speed}

Looking at the photo in overlapping tiles as well as whole (`logolens train --task detect --tiles N`; seed {args.seeds[0]}
model, recalibrated on its own validation images for each setting, same test images; tiles add only candidates under
0.15 of the photo's side that no inner tile edge cuts, `logolens.inference.tiles`). Small logos are found somewhat more
often, but the tiles' candidates, among them many false ones, compete with the whole view's for the boxes refined and
re-scored, and the backbone runs once more per tile:

{tiles_table}

Reading the photo's text (`logolens train --task detect --ocr`, then `logolens detect --ocr`; seed {args.seeds[0]} model,
recalibrated with the text of its own validation images and logo-free pictures read, same test images): rapidocr reads
the whole photo once at 512 px; each candidate box takes a brand name spelt by a line centred in it (with 30 % context),
and a second calibrator, with "the box's brand is spelt somewhere in the photo" as a seventh input, scores the boxes
and sets their own no-logo threshold. Speed includes the reading:

{text_table}

![precision-recall](figures/detect_pr.png)
""")


if __name__ == "__main__":
    main()
