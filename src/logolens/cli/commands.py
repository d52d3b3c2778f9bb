"""Handlers of the ``logolens`` subcommands: parse nothing, compute nothing, call the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def run_models(args: argparse.Namespace) -> int:
    from logolens.models.registry import get_entry, list_models

    for name in list_models():
        print(f"{name:20s} {get_entry(name).description}")
    return 0


def run_data(args: argparse.Namespace) -> int:
    return {"stats": _data_stats, "convert": _data_convert, "generate": _data_generate}[args.data_command](args)


def _data_generate(args: argparse.Namespace) -> int:
    from logolens.data.synthetic import generate_dataset

    dataset = generate_dataset(
        args.out, n_brands=args.brands, images_per_brand=args.images_per_brand, seed=args.seed,
        no_logo_images=args.no_logo_images, progress=not args.no_progress,
    )
    print(f"wrote {len(dataset)} images with {dataset.n_boxes} logos of {len(dataset.brands)} brands "
          f"and {args.no_logo_images} no-logo images to {args.out}")
    return 0


def _data_convert(args: argparse.Namespace) -> int:
    from logolens.data.coco import write_coco
    from logolens.data.formats import load_dataset

    dataset = load_dataset(args.path, format=args.format, images_dir=args.images_dir)
    written = write_coco(dataset, args.out)
    print(f"wrote {len(dataset)} images, {dataset.n_boxes} boxes, {len(dataset.brands)} brands to {written}")
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from logolens.data.formats import load_dataset
    from logolens.data.stats import dataset_stats

    stats = dataset_stats(load_dataset(args.path, format=args.format, images_dir=args.images_dir))
    table = Table(title=f"{stats['name']}: {stats['images']} images, {stats['boxes']} boxes, {stats['brands']} brands")
    for column in ("brand", "images", "boxes"):
        table.add_column(column, justify="left" if column == "brand" else "right")
    for brand, counts in stats["per_brand"].items():
        table.add_row(brand, str(counts["images"]), str(counts["boxes"]))
    Console(highlight=False, soft_wrap=True).print(table)
    return 0


CLASSIFIER_ONLY = ("head", "decay", "optimizer", "schedule", "label_smoothing", "margin", "square", "tta", "augment_views", "finetune_blocks")
DETECTOR_ONLY = ("tiles", "refine", "refine_passes", "refine_views", "train_scales", "rescore", "brands_per_box", "classifier", "feature_dropout", "feature_dims", "heads")


def _refuse_options(args: argparse.Namespace, names: Sequence[str], task: str) -> None:
    defaults = {"head": "linear", "finetune_blocks": 0, "augment_views": 0, "tta": False}
    given = [name for name in names if getattr(args, name) not in (None, defaults.get(name))]
    if given:
        raise ValueError(f"--{given[0].replace('_', '-')} does not apply to --task {task}")


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from logolens.classifier import LogoClassifier
    from logolens.data.formats import load_dataset
    from logolens.training.run import train_and_report

    source = {"path": str(Path(args.data).resolve()), "format": args.format,
              "images_dir": str(Path(args.images_dir).resolve()) if args.images_dir else None}
    if args.ocr:  # before training, not after it
        from logolens.inference.ocr import check_ocr

        check_ocr()
    if args.task == "detect":
        return _train_detector(args, source)
    _refuse_options(args, DETECTOR_ONLY, "classify")
    dataset = load_dataset(args.data, format=args.format, images_dir=args.images_dir)
    classifier = LogoClassifier(
        model=args.model or "dinov2-s14", image_size=args.image_size, margin=args.margin, square=args.square, head=args.head,
        finetune_blocks=args.finetune_blocks, epochs=args.epochs, lr=args.lr, decay=args.decay, batch_size=args.batch_size,
        optimizer=args.optimizer, schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, patience=args.patience, augment_views=args.augment_views, tta=args.tta,
        calibrate=not args.no_calibrate, seed=args.seed, cache_dir=args.cache_dir, progress=not args.no_progress,
    )
    summary = train_and_report(dataset, args.out, classifier, args.val_fraction, args.test_fraction, data_source=source,
                               export_onnx=not args.no_onnx, gallery_ocr=args.ocr)
    _print_summary(summary)
    return 0


def _train_detector(args: argparse.Namespace, source: dict) -> int:
    from logolens.data.formats import load_dataset
    from logolens.detector import MODEL, LogoDetector
    from logolens.training.run import train_detector_and_report

    if args.model not in (None, MODEL):
        raise ValueError(f"--task detect trains {MODEL!r}, not {args.model!r}; choose its crop classifier with --classifier")
    _refuse_options(args, CLASSIFIER_ONLY, "detect")
    settings = {"image_size": args.image_size, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                "weight_decay": args.weight_decay, "patience": args.patience, "feature_dropout": args.feature_dropout, "feature_dims": args.feature_dims, "heads": args.heads, "tiles": args.tiles, "refine": args.refine, "refine_passes": args.refine_passes,
                "refine_views": args.refine_views, "train_scales": args.train_scales, "rescore": args.rescore, "brands_per_box": args.brands_per_box,
                "classifier": args.classifier}
    detector = LogoDetector(**{k: v for k, v in settings.items() if v is not None}, calibrate=not args.no_calibrate,
                            read_text=args.ocr, seed=args.seed, cache_dir=args.cache_dir, progress=not args.no_progress)
    dataset = load_dataset(args.data, format=args.format, images_dir=args.images_dir)
    summary = train_detector_and_report(dataset, args.out, detector, args.val_fraction, args.test_fraction, data_source=source,
                                        export_onnx=not args.no_onnx, gallery_ocr=args.ocr)
    print(f"trained the detector on {summary['train_images']} images ({summary['brands']} brands, {summary['epochs']} epochs); "
          f"{_thresholds(summary)}")
    phases = summary["training_phases"]
    print(f"training took {sum(phases.values()):.0f} s: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.items()))
    _print_detection_reports(summary)
    return 0


def _thresholds(summary: dict) -> str:
    """A detector's no-logo thresholds in words (with and without --ocr)."""
    text = summary["calibration"].get("text")
    return f"no-logo threshold {summary['threshold']:.3f}" + (f" ({text['threshold']:.3f} with --ocr)" if text else "")


def _print_detection_reports(summary: dict) -> None:
    """The validation and test reports of a detector's training or calibration run, then where they are."""
    from logolens.evaluation.detection import detection_summary_lines

    for part in ("val", "test"):
        for stem in (part, f"{part}-ocr"):
            if stem in summary:
                for line in detection_summary_lines(summary[stem], f"{part} ({summary[f'{part}_images']} images{_read_label(summary[stem])})"):
                    print(line)
    print(f"model and reports written to {summary['model_dir']}")


def _read_label(report: dict) -> str:
    """What a detection report's label adds when it scored ``detect --ocr`` (its ``ocr``)."""
    return ", the photos' text read (--ocr)" if report.get("ocr") else ""


def run_detect(args: argparse.Namespace) -> int:
    """One JSON line per image on stdout; an unusable image or path is reported on stderr and the
    batch goes on (exit status 1 if any was skipped)."""
    from logolens.detector import LogoDetector
    from logolens.errors import DataError
    from logolens.inference.batch import AnnotatedCopies, detect_images, expand_inputs

    if args.max_results is not None and args.max_results < 1:
        raise ValueError(f"--max-results must be >= 1, got {args.max_results}")
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise ValueError(f"--min-score must be in [0, 1], got {args.min_score}")
    detector = LogoDetector.load(args.model)
    if args.ocr:
        from logolens.inference.ocr import check_ocr
        from logolens.recognition import warn_if_not_calibrated_for_text

        check_ocr()
        warn_if_not_calibrated_for_text(detector.gallery_, args.model)
    failures = 0
    inputs = list(expand_inputs(args.images)) if args.annotate else args.images  # the copies must know every input first
    copies = AnnotatedCopies(args.annotate, inputs) if args.annotate else None
    for result, image in detect_images(detector, inputs, args.min_score, args.max_results, ocr=args.ocr):
        if isinstance(result, DataError):
            print(f"logolens: error: {result}", file=sys.stderr)
            failures += 1
            continue
        print(json.dumps(result.to_json(args.format)), flush=True)
        if copies:
            copies.write(image, result)
    return 1 if failures else 0


def run_sweep(args: argparse.Namespace) -> int:
    from logolens.data.formats import load_dataset
    from logolens.training.sweep import run_sweep as sweep
    from logolens.training.sweep import write_sweep

    dataset = load_dataset(args.data, format=args.format, images_dir=args.images_dir)
    rows = sweep(dataset, args.models, lrs=args.lrs or [None], image_sizes=args.image_sizes or [None], heads=args.heads,
                 epochs=args.epochs, val_fraction=args.val_fraction, seed=args.seed, cache_dir=args.cache_dir,
                 progress=not args.no_progress)
    files = write_sweep(rows, args.out)
    print(files["markdown"].read_text(encoding="utf-8"), end="")
    print(f"written: {files['csv']}, {files['markdown']}, {files['plot']}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from logolens.classifier import LogoClassifier
    from logolens.detector import LogoDetector
    from logolens.models.storage import read_manifest

    estimator = LogoDetector if read_manifest(args.model).get("task") == "detect" else LogoClassifier
    path = estimator.load(args.model, runtime="torch").export_onnx(quantize=args.int8)
    print(f"wrote {path}")
    return 0


def _print_summary(summary: dict) -> None:
    print(f"trained on {summary['train_images']} images ({summary['train_samples']} crops, {summary['brands']} brands); "
          f"final training accuracy {summary['final_train_accuracy']:.3f}")
    if "val" in summary:
        val = summary["val"]
        print(f"validation ({summary['val_images']} images, {val['n_samples']} crops): top-1 {val['top1_accuracy']:.3f}, "
              f"top-5 {val['top5_accuracy']:.3f}, macro F1 {val['macro_f1']:.3f} (chance {val['chance_accuracy']:.3f})")
    calibration = summary.get("calibration") or {}
    if calibration:
        print(f"calibration: temperature {calibration['temperature']:.3f}, validation ECE "
              f"{calibration['val_ece_before']:.3f} -> {calibration['val_ece_after']:.3f}")
    if summary.get("onnx"):
        print(f"onnx export: {summary['onnx']}")
    print(f"model and reports written to {summary['model_dir']}")


def run_evaluate(args: argparse.Namespace) -> int:
    from logolens.evaluation.detection import detection_summary_lines
    from logolens.evaluation.report import summary_lines
    from logolens.evaluation.run import evaluate_model_dir
    from logolens.models.storage import read_manifest

    task = read_manifest(args.model).get("task", "classify")
    if args.task and args.task != task:
        raise ValueError(f"{args.model}: a {task!r} model, but --task {args.task} was asked for")
    report, files = evaluate_model_dir(
        args.model, data=args.data, format=args.format, images_dir=args.images_dir, part=args.part, out=args.out,
        progress=not args.no_progress, ocr=args.ocr,
    )
    label = f"{report['part']} images of {report['data']}{_read_label(report)}"
    if task == "detect":
        for line in detection_summary_lines(report, label):
            print(line)
        print(f"metrics: {files['metrics']}  precision-recall: {files['pr']}")
        return 0
    for line in summary_lines(report, label):
        print(line)
    print(f"metrics: {files['metrics']}  confusion matrix: {files['confusion']}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from logolens.models.storage import read_manifest
    from logolens.training.run import INFERENCE_SETTINGS, calibrate_detector_dir

    task = read_manifest(args.model).get("task", "classify")
    if task != "detect":
        raise ValueError(f"{args.model}: a {task!r} model; calibrate refits detectors (a classifier is calibrated when it trains, "
                         "its brand gallery by 'logolens brands init')")
    settings = {name: getattr(args, name) for name in INFERENCE_SETTINGS if getattr(args, name) is not None}
    summary = calibrate_detector_dir(args.model, args.data, args.format, args.images_dir, read_text=args.ocr, settings=settings,
                                     cache_dir=args.cache_dir, progress=not args.no_progress)
    used = ", ".join(f"{name.replace('_', '-')} {value}" for name, value in summary["settings"].items())
    print(f"calibrated {args.model} on {summary['val_images']} validation images ({used}); {_thresholds(summary)}")
    _print_detection_reports(summary)
    return 0


def run_classify(args: argparse.Namespace) -> int:
    """One JSON line per image; an unusable image is reported on stderr and the batch goes on."""
    from logolens.errors import ImageError
    from logolens.recognition import BrandRecognizer

    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    recognizer = BrandRecognizer.load(args.model, runtime=args.runtime, ocr=args.ocr)
    failures = 0
    for image in args.images:
        try:
            predictions = recognizer.classify([image], top_k=args.top_k)[0]
        except ImageError as error:
            print(f"logolens: error: {error}", file=sys.stderr)
            failures += 1
            continue
        print(json.dumps({"image": image, "predictions": [p.to_json() for p in predictions]}), flush=True)
    return 1 if failures else 0


def run_demo(args: argparse.Namespace) -> int:
    from logolens.demo import run_demo as demo

    from logolens.evaluation.detection import detection_summary_lines

    summaries = demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    detector = summaries.pop("detector")
    fewshot = summaries.pop("fewshot")
    for name, summary in summaries.items():
        print(f"== {name}")
        _print_summary(summary)
    print()
    for name, summary in summaries.items():
        val = summary["val"]
        print(f"demo: {name:12s} validation top-1 {val['top1_accuracy']:.3f} vs chance {val['chance_accuracy']:.3f} "
              f"({val['top1_accuracy'] / val['chance_accuracy']:.1f}x); plots in {summary['model_dir']}/")
    for line in detection_summary_lines(detector["val"], f"demo: detector on {detector['val_images']} validation scenes"):
        print(line)
    print(f"demo: annotated scenes in {detector['annotated']}/; try: logolens detect --model {detector['model_dir']} IMAGE")
    print(f"demo: enrolled new brand {fewshot['brand']!r} from {fewshot['examples']} examples in {fewshot['enrol_seconds']:.1f} s: "
          f"top-1 {fewshot['new_top1']:.2f} on its other {fewshot['new_crops']} crops; {fewshot['unknown_rejected']:.2f} of "
          f"{fewshot['unknown_crops']} crops of a brand in neither said 'unknown'; trained brands' top-1 {fewshot['trained_top1']:.2f}")
    return 0


def run_brands(args: argparse.Namespace) -> int:
    return {"add": _brands_add, "list": _brands_list, "remove": _brands_remove, "export": _brands_export,
            "import": _brands_import, "init": _brands_init}[args.brands_command](args)


def parse_example(text: str) -> tuple[str, tuple[float, float, float, float] | None]:
    """``photo.jpg`` or ``photo.jpg@x1,y1,x2,y2`` (an existing file of that full name wins)."""
    import re
    from pathlib import Path

    match = re.fullmatch(r"(.+)@(-?[\d.]+),(-?[\d.]+),(-?[\d.]+),(-?[\d.]+)", text)
    if match is None or Path(text).exists():
        return text, None
    try:
        box = tuple(float(v) for v in match.groups()[1:])
    except ValueError:
        raise ValueError(f"{text}: the box after '@' must be four numbers x1,y1,x2,y2") from None
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"{text}: the box has no area (needs x2 > x1 and y2 > y1)")
    return match.group(1), box


def _brands_add(args: argparse.Namespace) -> int:
    import time

    from logolens.gallery.folder import enrol_brand

    examples = [parse_example(text) for text in args.images]
    start = time.perf_counter()
    row = enrol_brand(args.model, args.name, [p for p, _ in examples], [b for _, b in examples])
    print(f"enrolled {row['brand']!r} from {len(examples)} example(s) in {time.perf_counter() - start:.1f} s; "
          f"it now has {row['exemplars']} exemplar views from {row['images']} image(s)")
    return 0


def _brands_list(args: argparse.Namespace) -> int:
    from logolens.gallery.folder import open_gallery

    gallery = open_gallery(args.model)
    rows = gallery.summary()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = Table(title=f"{args.model}: {len(gallery.trained_brands)} trained, {len(gallery.enrolled_brands)} enrolled brands; "
                        f"{_unknown_below(gallery.calibration)}")
    for column in ("brand", "source", "exemplars", "images"):
        table.add_column(column, justify="left" if column in ("brand", "source") else "right")
    for row in rows:
        table.add_row(row["brand"], row["source"], str(row["exemplars"]), str(row["images"]))
    Console(highlight=False, soft_wrap=True).print(table)
    return 0


def _brands_remove(args: argparse.Namespace) -> int:
    from logolens.gallery.folder import remove_brand

    remove_brand(args.model, args.name)
    print(f"removed {args.name!r} from {args.model}")
    return 0


def _brands_export(args: argparse.Namespace) -> int:
    from logolens.gallery.folder import export_brands

    exported = export_brands(args.model, args.out, args.brands)
    print(f"wrote {len(exported.enrolled_brands)} brand(s) ({len(exported)} exemplar views) to {args.out}")
    return 0


def _brands_import(args: argparse.Namespace) -> int:
    from logolens.gallery.folder import import_brands

    names = import_brands(args.model, args.file, replace=args.replace)
    print(f"imported {len(names)} brand(s) into {args.model}: {', '.join(names)}")
    return 0


def _brands_init(args: argparse.Namespace) -> int:
    from logolens.data.crops import logo_samples
    from logolens.evaluation.run import training_side
    from logolens.gallery.enrol import gallery_cache
    from logolens.gallery.folder import build_reference

    if args.views is not None and args.views < 0:
        raise ValueError(f"--views must be >= 0, got {args.views}")
    dataset = training_side(args.model, args.data, args.format, args.images_dir)
    reference = build_reference(args.model, logo_samples(dataset), args.views, cache=gallery_cache(args.cache_dir),
                                progress=not args.no_progress, read_text=args.ocr)
    print(f"wrote the references of {len(reference.trained_brands)} trained brands ({len(reference)} vectors) to {args.model}; "
          f"{_unknown_below(reference.calibration)}")
    return 0


def _unknown_below(calibration) -> str:
    """The open set's thresholds in words."""
    text = f" ({calibration.text_threshold:.3f} with --ocr)" if calibration.text_threshold is not None else ""
    return f"unknown below similarity {calibration.threshold:.3f}{text}"
