"""New brands found in whole photos right after enrolment (FlickrLogos-27, leave-brands-out).

The detection counterpart of ``fewshot_flickr27.py``, with the same partitions: for each seed the
647 images are split image-level 80/20 as in every benchmark, and the same 7 of the 27 brands are
drawn as "new". A detector is trained (``train_detector_and_report``, as ``logolens train --task
detect`` does) on the training images that show only the other 20 brands; its folder gets the 20
brands' gallery references. Then each new brand is enrolled into that folder with ``enrol_brand``
(as ``logolens brands add`` does) from 5 crops of 5 training images, and every held-out test image
goes through ``LogoDetector.detect``: the detector never saw the new brands, so their boxes come from
its class-agnostic candidates and their names from the gallery alone.

Reported per setting (refiner passes), mean over partitions:
- AP@0.5 (pycocotools) of the new brands and of the trained brands, all 27 scored together;
- of the test images that show a new brand: the share where a detection names it with IoU >= 0.5
  at the model's no-logo threshold ("found"), and the share whose answer (best detection, or
  ``none``) is that brand;
- of the test images of trained brands: the share answered right, and the share answered with a
  new brand (what enrolment costs the brands the model was trained on);
- before enrolment, the share of new-brand images answered with a trained brand (false claims).

With rapidocr installed, the detector is trained as ``logolens train --task detect --ocr`` trains it
(calibrated a second time with its validation photos' text read; the gallery references also hold
the open-set threshold calibrated for reading text), and every test photo is detected again as
``logolens detect --ocr`` does (``LogoDetector.detect(ocr=True)``: the photo read once, its lines
naming the candidate boxes around them, scores and threshold from the text calibration); all the
measures are reported again. A reused model lacking either calibration gets it as ``train --ocr``
would have given it (``LogoDetector.recalibrate`` on its own validation images, ``brands init --ocr``).

    python benchmarks/fewshot_detect_flickr27.py [--data PATH] [--seeds 0 1 2] [--passes 1 2] [--cache-dir DIR] [--reuse-models] [--no-ocr]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fewshot_flickr27 import leave_brands_out, shots_of
from results import benchmark_parser, command_line, flickr27_or_exit, markdown_table, write_section
from tqdm import tqdm

from logolens.data.formats import load_dataset
from logolens.data.splits import split_dataset
from logolens.detections import box_iou
from logolens.detector import LogoDetector
from logolens.evaluation.detection import detection_report
from logolens.gallery.folder import enrol_brand, open_gallery
from logolens.inference.ocr import ocr_available
from logolens.models.storage import update_manifest
from logolens.training.run import train_detector_and_report, write_gallery

SHOTS = 5
TRAINING_SECONDS = "training s (detector, classifier, gallery references, validation reports; with --ocr, the text read too; embedding caches as found)"


def found_rate(records, predictions, new: list[str], threshold: float) -> float:
    """Share of ``records`` (images showing a new brand) where a detection at or above
    ``threshold`` names one of the image's new brands with IoU >= 0.5 to one of its boxes."""
    hits = []
    for record, dets in zip(records, predictions):
        kept = dets[dets.score >= threshold]
        hit = False
        for brand in set(b.brand for b in record.boxes) & set(new):
            truth = np.array([b.xyxy for b in record.boxes if b.brand == brand])
            named = kept[kept.brand == brand]
            hit |= bool(len(named)) and float(box_iou(truth, named.xyxy).max()) >= 0.5
        hits.append(hit)
    return float(np.mean(hits)) if hits else float("nan")


def answers(predictions, threshold: float) -> np.ndarray:
    """Each image's answer: its best detection's brand at or above ``threshold``, else ``none``."""
    said = []
    for dets in predictions:
        kept = dets[dets.score >= threshold]
        said.append(str(kept.brand[int(np.argmax(kept.score))]) if len(kept) else "none")
    return np.array(said, dtype=object)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--passes", type=int, nargs="+", default=[1, 2], help="refiner passes to compare (default: 1 2)")
    parser.add_argument("--out", default="runs/benchmarks/fewshot-detect")
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    parser.add_argument("--reuse-models", action="store_true",
                        help="score the detectors an earlier run left in --out instead of training them again (training seconds as that run recorded them)")
    parser.add_argument("--no-ocr", action="store_true", help="skip reading the kept boxes' text (--ocr)")
    args = parser.parse_args()
    use_ocr = not args.no_ocr and ocr_available()
    torch.set_num_threads(2)
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    results: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        results.setdefault(key, []).append(float(value))

    for seed in args.seeds:
        rng, new, trained, outer, known_only = leave_brands_out(dataset, seed)  # the partition of fewshot_flickr27.py
        model = Path(args.out) / f"seed{seed}"
        if args.reuse_models and (model / "gallery.npz").is_file():  # trained and given its references by an earlier run
            reused = LogoDetector.load(model)
            seconds = reused.manifest_.get("training_seconds")  # as measured when it was trained
            if use_ocr:  # what 'train --task detect --ocr' would have added, fitted on the training run's own split
                training_split = split_dataset(known_only, 0.2, 0.0, seed)  # (its seed is the detector's)
                if reused.text_threshold_ is None:
                    reused.cache_dir, reused.read_text = args.cache_dir, True
                    reused.recalibrate(training_split.val)
                    update_manifest(model, {"calibration": reused.calibrator_, "settings": reused.get_params()})
                if open_gallery(model).calibration.text_threshold is None:  # logolens brands init --ocr
                    write_gallery(model, training_split, None, args.cache_dir, progress=True, read_text=True)
        else:
            shutil.rmtree(model, ignore_errors=True)
            started = time.perf_counter()
            detector = LogoDetector(seed=seed, cache_dir=args.cache_dir, progress=True, read_text=use_ocr)
            train_detector_and_report(known_only, model, detector, val_fraction=0.2, gallery_ocr=use_ocr)
            seconds = round(time.perf_counter() - started, 1)
            update_manifest(model, {"training_seconds": seconds})
        if seconds is not None:
            record(TRAINING_SECONDS, seconds)
        test = list(outer.val)
        shows_new = np.array([bool(set(r.brands) & set(new)) for r in test])
        truth = np.array([r.primary_brand for r in test], dtype=object)
        new_images = [r for r, is_new in zip(test, shows_new) if is_new]

        before = LogoDetector.load(model)
        threshold = before.threshold_
        said = answers([before.detect(r.path, min_score=0.0) for r in tqdm(new_images, desc=f"partition {seed}, before enrolment")], threshold)
        record("before enrolment: new brands' images answered with a trained brand", np.mean(np.isin(said, trained)))

        enrolled = Path(tempfile.mkdtemp()) / "model"
        shutil.copytree(model, enrolled)
        for brand in new:
            examples = shots_of(outer.train, brand, SHOTS, rng)
            enrol_brand(enrolled, brand, [p for p, _ in examples], [b for _, b in examples])
        for passes in args.passes:
            detector = LogoDetector.load(enrolled)
            detector.refine_passes = passes
            for ocr in (False, True) if use_ocr else (False,):  # logolens detect, then detect --ocr
                tag = f"{passes} pass{'es' if passes > 1 else ''}{' with --ocr' if ocr else ''}"
                cutoff = detector.text_threshold_ if ocr else threshold
                predictions = [detector.detect(r.path, min_score=0.0, ocr=ocr) for r in tqdm(test, desc=f"partition {seed}, {tag}")]
                per_brand = detection_report(test, predictions, dataset.brands, cutoff)["per_brand"]
                said = answers(predictions, cutoff)
                record(f"{tag}: new brands, AP@0.5", np.mean([per_brand[b]["ap50"] for b in new if b in per_brand]))
                record(f"{tag}: trained brands, AP@0.5", np.mean([per_brand[b]["ap50"] for b in trained if b in per_brand]))
                record(f"{tag}: new brands' images, found (right brand, IoU >= 0.5)",
                       found_rate(new_images, [p for p, is_new in zip(predictions, shows_new) if is_new], new, cutoff))
                record(f"{tag}: new brands' images, answer right", np.mean(said[shows_new] == truth[shows_new]))
                record(f"{tag}: trained brands' images, answer right", np.mean(said[~shows_new] == truth[~shows_new]))
                record(f"{tag}: trained brands' images answered with a new brand", np.mean(np.isin(said[~shows_new], new)))
        shutil.rmtree(enrolled.parent, ignore_errors=True)
        print({key: round(values[-1], 3) for key, values in results.items()}, flush=True)
        write_results(results, args.seeds[: args.seeds.index(seed) + 1], len(test), int(shows_new.sum()))  # a partial run leaves its record


def write_results(results: dict[str, list[float]], seeds: list[int], n_test: int, n_new: int) -> None:
    rows = [[key, f"{np.mean(values):.3f}", f"{np.std(values):.3f}" if len(values) > 1 else "",
             " ".join(f"{v:.3f}" for v in values)] for key, values in results.items()]
    table = markdown_table(["measure (mean over partitions)", "mean", "std", "per partition"], rows)
    print(table)
    write_section("fewshot-detect", f"""## New brands found in whole photos (leave-brands-out detection)

`{command_line()}`

The partitions of the few-shot section above (seeds {', '.join(map(str, seeds))}): a detector trained on the training images
of 20 brands (default settings), then 7 new brands enrolled into its folder from {SHOTS} crops each. All
{n_test} held-out test images are detected; {n_new} of them (last partition) show a new brand. "Found": a
detection at the model's no-logo threshold names the new brand with IoU >= 0.5; "answer": the image's best
detection's brand, or `none`. AP@0.5 with pycocotools over all 27 brands, averaged over the new or the trained ones.
"with --ocr": the detector trained as `logolens train --task detect --ocr` trains it and the photos detected as
`logolens detect --ocr` detects them: each photo's text read once, a line naming the candidate box around it, scores and
no-logo threshold from the calibration fitted with the validation photos' text (with enrolled brands, another legible word
makes a box `unknown` unless the box turned upside down or sideways reads like its brand's name, the open set deciding at
the threshold the gallery calibrated from its reference crops' text).

{table}
""")


if __name__ == "__main__":
    main()
