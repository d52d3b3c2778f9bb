"""Handlers of the ``logolens`` subcommands: parse nothing, compute nothing, call the library."""

from __future__ import annotations

import argparse
import json
import sys

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


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from logolens.classifier import LogoClassifier
    from logolens.data.formats import load_dataset
    from logolens.training.run import train_and_report

    dataset = load_dataset(args.data, format=args.format, images_dir=args.images_dir)
    classifier = LogoClassifier(
        model=args.model, image_size=args.image_size, margin=args.margin, square=args.square, head=args.head,
        finetune_blocks=args.finetune_blocks, epochs=args.epochs, lr=args.lr, decay=args.decay, batch_size=args.batch_size,
        optimizer=args.optimizer, schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, patience=args.patience, augment_views=args.augment_views, tta=args.tta,
        calibrate=not args.no_calibrate, seed=args.seed, cache_dir=args.cache_dir, progress=not args.no_progress,
    )
    source = {"path": str(Path(args.data).resolve()), "format": args.format,
              "images_dir": str(Path(args.images_dir).resolve()) if args.images_dir else None}
    summary = train_and_report(dataset, args.out, classifier, args.val_fraction, args.test_fraction, data_source=source,
                               export_onnx=not args.no_onnx)
    _print_summary(summary)
    return 0


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

    path = LogoClassifier.load(args.model, runtime="torch").export_onnx(quantize=args.int8)
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
    from logolens.evaluation.report import summary_lines
    from logolens.evaluation.run import evaluate_model_dir

    report, files = evaluate_model_dir(
        args.model, data=args.data, format=args.format, images_dir=args.images_dir, part=args.part, out=args.out,
        progress=not args.no_progress,
    )
    for line in summary_lines(report, f"{report['part']} images of {report['data']}"):
        print(line)
    print(f"metrics: {files['metrics']}  confusion matrix: {files['confusion']}")
    return 0


def run_classify(args: argparse.Namespace) -> int:
    """One JSON line per image; an unusable image is reported on stderr and the batch goes on."""
    from logolens.classifier import LogoClassifier
    from logolens.errors import ImageError

    if args.top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
    classifier = LogoClassifier.load(args.model, runtime=args.runtime)
    failures = 0
    for image in args.images:
        try:
            predictions = classifier.classify([image], top_k=args.top_k)[0]
        except ImageError as error:
            print(f"logolens: error: {error}", file=sys.stderr)
            failures += 1
            continue
        print(json.dumps({"image": image, "predictions": [p.to_json() for p in predictions]}), flush=True)
    return 1 if failures else 0


def run_demo(args: argparse.Namespace) -> int:
    from logolens.demo import run_demo as demo

    summaries = demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    for name, summary in summaries.items():
        print(f"== {name}")
        _print_summary(summary)
    print()
    for name, summary in summaries.items():
        val = summary["val"]
        print(f"demo: {name:12s} validation top-1 {val['top1_accuracy']:.3f} vs chance {val['chance_accuracy']:.3f} "
              f"({val['top1_accuracy'] / val['chance_accuracy']:.1f}x); plots in {summary['model_dir']}/")
    return 0
