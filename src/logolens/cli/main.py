"""The ``logolens`` command: a thin argparse layer over library functions.

Heavy imports (torch, matplotlib) happen inside the handlers, so ``logolens --help`` is instant.
Errors the library raises on purpose become one ``logolens: error: ...`` line and exit status 2;
warnings become ``logolens: warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from collections.abc import Sequence

from logolens import __version__


class Parser(argparse.ArgumentParser):
    """argparse that suggests the closest option for a misspelt one (``--epoch`` → ``--epochs``)
    and accepts no abbreviations, so every spelling in scripts is the documented one."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def option_strings(self) -> list[str]:
        """Every option of this parser and of its subcommands' parsers."""
        options = []
        for action in self._actions:
            options += action.option_strings
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    options += parser.option_strings()
        return options

    def error(self, message: str):  # noqa: D401 - argparse API
        if message.startswith("unrecognized arguments:"):
            options = self.option_strings()
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], options, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        super().error(message)


def _add_data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--data", required=required, help="dataset file or folder")
    parser.add_argument("--format", default="auto", choices=_format_choices(), help="dataset format (default: detect)")
    parser.add_argument("--images-dir", help="folder of the images, if not the default for the format")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="logolens", description="Find brand logos in photos: train, evaluate, classify, detect.")
    parser.add_argument("--version", action="version", version=f"logolens {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    demo = commands.add_parser("demo", help="the main job on generated data: train, evaluate, plot")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--epochs", type=int, default=40, help="seed CNN training epochs (default: 40)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    data = commands.add_parser("data", help="inspect or generate datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION", parser_class=Parser)
    stats = data_commands.add_parser("stats", help="images, boxes and brands per class of a dataset")
    stats.add_argument("path", help="dataset file or folder")
    stats.add_argument("--format", default="auto", choices=_format_choices(), help="dataset format (default: detect)")
    stats.add_argument("--images-dir")
    convert = data_commands.add_parser("convert", help="write any supported dataset as COCO JSON")
    convert.add_argument("path", help="dataset file or folder")
    convert.add_argument("out", help="COCO JSON file to write")
    convert.add_argument("--format", default="auto", choices=_format_choices(), help="dataset format (default: detect)")
    convert.add_argument("--images-dir")
    generate = data_commands.add_parser("generate", help="write a synthetic logo dataset (FlickrLogos-27 layout)")
    generate.add_argument("out", help="output folder")
    generate.add_argument("--brands", type=int, default=8, help="made-up brands (default: 8)")
    generate.add_argument("--images-per-brand", type=int, default=20)
    generate.add_argument("--no-logo-images", type=int, default=0)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--no-progress", action="store_true")

    train = commands.add_parser("train", help="train a brand classifier on logo crops, or a logo detector on whole photos")
    _add_data_options(train, required=True)
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--task", default="classify", choices=("classify", "detect"),
                       help="classify: a crop classifier (default); detect: a detector of logos in whole photos")
    train.add_argument("--model",
                       help="architecture (classify default: dinov2-s14; seed-cnn is the original post's CNN; "
                            "detect: dinov2-s14-detector); see 'logolens models'")
    recipe = "default: the model's recipe"
    train.add_argument("--epochs", type=int, help=f"{recipe} (seed-cnn: 150, as in the original post)")
    train.add_argument("--lr", type=float, help=f"learning rate; {recipe} (seed-cnn: 1e-4)")
    train.add_argument("--decay", type=float, help=f"Keras-style per-step lr decay; {recipe} (seed-cnn: 1e-6)")
    train.add_argument("--batch-size", type=int, help=recipe)
    train.add_argument("--optimizer", choices=("rmsprop", "adamw", "sgd"), help=recipe)
    train.add_argument("--schedule", choices=("keras", "cosine"), help=recipe)
    train.add_argument("--weight-decay", type=float, help=recipe)
    train.add_argument("--label-smoothing", type=float, help=recipe)
    train.add_argument("--patience", type=int, help="early stopping on validation loss after N stale epochs (0: off)")
    train.add_argument("--image-size", type=int, help="square input side in pixels (seed-cnn: 32, dinov2-s14: 224)")
    train.add_argument("--margin", type=float, help="context around each box, fraction of its size")
    train.add_argument("--square", action=argparse.BooleanOptionalAction, help="pad crops to square instead of squashing")
    train.add_argument("--head", default="linear", choices=("linear", "mlp"), help="head on a pretrained backbone")
    train.add_argument("--finetune-blocks", type=int, default=0,
                       help="after the head, train the backbone's last N blocks with it (default: 0, frozen); the training "
                            "options then set this stage (default: 8 epochs, lr 2e-5, batch 32, weight decay 0.05, no early stopping)")
    train.add_argument("--augment-views", type=int, default=0, help="augmented copies of each crop for a frozen backbone's head")
    train.add_argument("--tta", action="store_true", help="multi-scale test-time augmentation")
    train.add_argument("--no-calibrate", action="store_true", help="skip temperature scaling on the validation crops")
    train.add_argument("--cache-dir", help="embedding cache folder (default: $LOGOLENS_CACHE_DIR or ~/.cache/logolens)")
    train.add_argument("--no-onnx", action="store_true", help="do not export model.onnx for fast inference")
    train.add_argument("--ocr", action="store_true", help="also read the text of every training crop, to calibrate the open set of "
                                                     "'classify/detect --ocr', and with --task detect the text of every calibration "
                                                     "photo, to calibrate the scores of 'detect --ocr' (needs rapidocr: pip install 'logolens[ocr]')")
    train.add_argument("--tiles", type=int, help="detect: also look at each photo in N x N overlapping tiles, for small logos "
                                                 "(default: 0, the whole view only; 2: five backbone passes per photo)")
    train.add_argument("--feature-dropout", type=float, help="detect: share of the cached backbone features zeroed at random in each "
                                                            "training step, against over-fitting small data (default: 0; no clear gain on "
                                                            "FlickrLogos-27, see benchmarks/RESULTS.md)")
    train.add_argument("--feature-dims", type=int, help="detect: principal components of the backbone's 768 patch features the heads "
                                                        "read, fitted on the training photos (default: 0, all 768; 128 trains the heads twice as "
                                                        "fast and lost accuracy on FlickrLogos-27, see benchmarks/RESULTS.md)")
    train.add_argument("--heads", type=int, help="detect: dense heads trained apart and averaged, for the detector and the box refiner "
                                                 "alike (default: 3; each adds its training time, not inference time)")
    train.add_argument("--train-scales", type=float, nargs="+", help="detect: the photo's longest side as a fraction of the canvas in each "
                                                                    "cached training view (default: 1.0 0.6; 1.0 alone trains faster "
                                                                    "with more false alarms, see benchmarks/RESULTS.md)")
    train.add_argument("--refine", type=int, help="detect: top boxes per image re-drawn by the box refiner (default: 5; 0: off)")
    train.add_argument("--refine-views", type=int, help="detect: jittered crops around each training box the box refiner learns from (default: 4)")
    train.add_argument("--refine-passes", type=int, help="detect: looks the box refiner takes at each box, each around the last box (default: 1)")
    train.add_argument("--rescore", type=int, help="detect: top boxes per image re-scored by the crop classifier (default: 5; 0: off)")
    train.add_argument("--brands-per-box", type=int, help="detect: brands listed per box, its most likely one and the next ones, each "
                                                          "a detection of its own with its own score (default: 3; 1: the first only)")
    train.add_argument("--classifier", help="detect: the crop classifier's architecture (default: dinov2-s14)")
    train.add_argument("--val-fraction", type=float, default=0.2)
    train.add_argument("--test-fraction", type=float, default=0.0)
    train.add_argument("--seed", type=int, default=0, help="split, initialisation and shuffling seed")
    train.add_argument("--no-progress", action="store_true")

    sweep = commands.add_parser("sweep", help="grid study over learning rate, image size, head and backbone")
    _add_data_options(sweep, required=True)
    sweep.add_argument("--out", required=True, help="folder for sweep.csv, sweep.md and sweep.png")
    sweep.add_argument("--models", nargs="+", default=["seed-cnn"], help="architectures (default: seed-cnn)")
    sweep.add_argument("--lrs", nargs="+", type=float, help="learning rates (default: each model's own)")
    sweep.add_argument("--image-sizes", nargs="+", type=int, help="input sides in pixels (default: each model's own)")
    sweep.add_argument("--heads", nargs="+", default=["linear"], choices=("linear", "mlp"))
    sweep.add_argument("--epochs", type=int, help="default: each model's own")
    sweep.add_argument("--val-fraction", type=float, default=0.2)
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--cache-dir", help="embedding cache folder")
    sweep.add_argument("--no-progress", action="store_true")

    export = commands.add_parser("export", help="export a model folder to ONNX (model.onnx) for onnxruntime")
    export.add_argument("--model", required=True, help="model folder")
    export.add_argument("--int8", action="store_true", help="store a dynamically int8-quantised graph (faster, slightly less exact)")

    evaluate = commands.add_parser("evaluate", help="score a model; default: on the images it held out")
    evaluate.add_argument("--model", required=True, help="model folder")
    _add_data_options(evaluate, required=False)
    evaluate.add_argument("--part", choices=("train", "val", "test", "all"), help="which images to score")
    evaluate.add_argument("--task", choices=("classify", "detect"), help="the model's task (default: as recorded in the model)")
    evaluate.add_argument("--out", help="report folder (default: the model folder)")
    evaluate.add_argument("--ocr", action="store_true", help="detectors trained with --ocr: score 'detect --ocr' (the photos' text read; "
                                                               "written as PART-ocr-metrics.json)")
    evaluate.add_argument("--no-progress", action="store_true")

    calibrate = commands.add_parser("calibrate", help="refit a detector's scores and no-logo threshold for other settings or --ocr, "
                                                      "on its validation images, without retraining")
    calibrate.add_argument("--model", required=True, help="detector model folder ('logolens train --task detect')")
    _add_data_options(calibrate, required=False)
    calibrate.add_argument("--ocr", action="store_true", help="also calibrate 'detect --ocr' (the photos' text read; needs rapidocr: "
                                                            "pip install 'logolens[ocr]')")
    kept = "default: the model's current setting"
    calibrate.add_argument("--tiles", type=int, help=f"look at each photo in N x N overlapping tiles too (0: the whole view only; {kept})")
    calibrate.add_argument("--refine", type=int, help=f"top boxes per image re-drawn by the box refiner (0: off; {kept})")
    calibrate.add_argument("--refine-passes", type=int, help=f"looks the box refiner takes at each box ({kept})")
    calibrate.add_argument("--rescore", type=int, help=f"top boxes per image re-scored by the crop classifier (0: off; {kept})")
    calibrate.add_argument("--brands-per-box", type=int, help=f"brands listed per box, each a detection of its own (1: the first only; {kept})")
    calibrate.add_argument("--cache-dir", help="embedding cache folder")
    calibrate.add_argument("--no-progress", action="store_true")

    classify = commands.add_parser("classify", help="print the top brands of each image as one JSON line")
    classify.add_argument("--model", required=True, help="model folder")
    classify.add_argument("--top-k", type=int, default=5, help="predictions per image (default: 5)")
    classify.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                          help="auto (default): PyTorch in bfloat16 on CPUs that have it natively, else "
                               "onnxruntime when the folder has model.onnx, else PyTorch")
    classify.add_argument("--ocr", action="store_true", help="also read the text in each image and match it to brand names "
                                                               "(needs rapidocr: pip install 'logolens[ocr]')")
    classify.add_argument("images", nargs="+", metavar="IMAGE")

    detect = commands.add_parser("detect", help="find logos in photos: one JSON line per image")
    detect.add_argument("--model", required=True, help="detector model folder ('logolens train --task detect')")
    detect.add_argument("--min-score", type=float, help="lowest score kept (default: the model's calibrated no-logo threshold)")
    detect.add_argument("--max-results", type=int, help="most logos per image (default: all)")
    detect.add_argument("--format", default="json", choices=("json", "vision"),
                        help="json: logolens lines (default); vision: Google Cloud Vision logoAnnotations")
    detect.add_argument("--annotate", metavar="DIR", help="also write copies of the images with boxes and labels drawn")
    detect.add_argument("--ocr", action="store_true", help="read the photo's text: a model trained with --ocr scores boxes knowing which brand "
                                                             "names the photo spells; boxes whose text spells a brand take its name; with "
                                                             "enrolled brands, a box whose text is another word is 'unknown' (needs rapidocr: "
                                                             "pip install 'logolens[ocr]')")
    detect.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")

    brands = commands.add_parser("brands", help="the brand gallery of a model: enrol new brands from a few examples")
    brand_commands = brands.add_subparsers(dest="brands_command", required=True, metavar="ACTION", parser_class=Parser)
    add = brand_commands.add_parser("add", help="enrol a brand from example images (whole images or IMAGE@x1,y1,x2,y2 boxes)")
    add.add_argument("--model", required=True, help="model folder (classifier or detector)")
    add.add_argument("name", metavar="NAME", help="brand name")
    add.add_argument("images", nargs="*", metavar="IMAGE", help="example image, optionally with a box: photo.jpg@x1,y1,x2,y2 (pixels)")
    listing = brand_commands.add_parser("list", help="the trained and enrolled brands, with their examples")
    listing.add_argument("--model", required=True, help="model folder")
    listing.add_argument("--json", action="store_true", help="one JSON line per brand instead of a table")
    remove = brand_commands.add_parser("remove", help="remove an enrolled brand")
    remove.add_argument("--model", required=True, help="model folder")
    remove.add_argument("name", metavar="NAME")
    export = brand_commands.add_parser("export", help="write enrolled brands to a gallery file another model can import")
    export.add_argument("--model", required=True, help="model folder")
    export.add_argument("out", metavar="OUT.npz")
    export.add_argument("--brands", nargs="+", metavar="NAME", help="only these brands (default: all enrolled)")
    imported = brand_commands.add_parser("import", help="add the enrolled brands of a gallery file")
    imported.add_argument("--model", required=True, help="model folder")
    imported.add_argument("file", metavar="FILE.npz")
    imported.add_argument("--replace", action="store_true", help="replace enrolled brands of the same name")
    init = brand_commands.add_parser("init", help="(re)build the trained brands' references (models from older logolens)")
    init.add_argument("--model", required=True, help="model folder")
    _add_data_options(init, required=False)
    init.add_argument("--views", type=int, help="augmented views per crop, for references, examples and queries (default: 4); "
                                                "changing it drops enrolled brands' compatibility")
    init.add_argument("--cache-dir", help="embedding cache folder")
    init.add_argument("--ocr", action="store_true", help="also read the text of every reference crop, to calibrate the open set of "
                                                       "'classify/detect --ocr' (needs rapidocr: pip install 'logolens[ocr]')")
    init.add_argument("--no-progress", action="store_true")

    commands.add_parser("models", help="list the model architectures")
    return parser


def _format_choices() -> tuple[str, ...]:
    from logolens.data.formats import FORMATS  # light: no torch

    return ("auto", *FORMATS)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"logolens: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from logolens.errors import LogolensError

    args = build_parser().parse_args(argv)
    from logolens.cli import commands

    handler = getattr(commands, f"run_{args.command}")
    saved_showwarning, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return handler(args) or 0
    except (LogolensError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        print(f"logolens: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("logolens: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = saved_showwarning


if __name__ == "__main__":
    sys.exit(main())
