"""Fine-tuning DINOv2's last blocks (LP-FT) on FlickrLogos-27 crops, against the frozen backbone.

Same image-level, brand-stratified 80/20 splits as the other crop benchmarks (seeds 0, 1, 2).
``LogoClassifier("dinov2-s14", finetune_blocks=N)`` first fits the linear head on the frozen,
cached embeddings (the frozen-backbone classifier of ``transfer_flickr27.py``, whose validation
accuracy before calibration is read from the probe stage of the history), then trains the last N
blocks with it on freshly augmented crops (``logolens train --finetune-blocks N``). The fine-tuned
model is what gets saved, calibrated and scored; the int8 ONNX export of the first seed is scored
too, since that is what ``logolens classify`` runs.

    python benchmarks/finetune_flickr27.py [--data PATH] [--seeds 0 1 2] [--blocks 2] [--epochs 8] [--cache-dir DIR]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from results import benchmark_parser, command_line, flickr27_or_exit, markdown_table, write_section

from logolens.classifier import FINETUNE_RECIPE, LogoClassifier
from logolens.data.formats import load_dataset
from logolens.data.splits import split_dataset
from logolens.training.run import train_and_report


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--blocks", type=int, default=2, help="last blocks fine-tuned (default: 2)")
    parser.add_argument("--epochs", type=int, help=f"fine-tuning epochs (default: the recipe's {FINETUNE_RECIPE['epochs']})")
    parser.add_argument("--out", default="runs/benchmarks/finetune")
    parser.add_argument("--cache-dir", help="embedding cache of the probe stage (default: the user cache)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    rows, scores = [], []
    for seed in args.seeds:
        out = Path(args.out) / f"blocks{args.blocks}-seed{seed}"
        started = time.perf_counter()
        classifier = LogoClassifier("dinov2-s14", finetune_blocks=args.blocks, epochs=args.epochs, seed=seed,
                                    cache_dir=args.cache_dir, progress=True)
        summary = train_and_report(dataset, out, classifier, val_fraction=0.2, gallery=False)  # int8 export of seed 0 below
        seconds = time.perf_counter() - started
        probe = [row for row in classifier.history_ if row["stage"] == "probe"][-1]["val_accuracy"]
        tuned = [row for row in classifier.history_ if row["stage"] == "finetune"]
        val, calibration = summary["val"], summary["calibration"]
        scores.append((probe, val["top1_accuracy"], val["top5_accuracy"], val["macro_f1"], calibration["val_ece_after"]))
        rows.append([str(seed), *(f"{v:.3f}" for v in scores[-1]), str(len(tuned)), " ".join(f"{row['val_accuracy']:.3f}" for row in tuned),
                     f"{seconds:.0f}"])
        print(" | ".join(rows[-1]), flush=True)
    first = Path(args.out) / f"blocks{args.blocks}-seed{args.seeds[0]}"
    LogoClassifier.load(first, runtime="torch").export_onnx(quantize=True)
    int8 = LogoClassifier.load(first, runtime="onnx").evaluate(split_dataset(dataset, 0.2, 0.0, args.seeds[0]).val)[0]["top1_accuracy"]
    mean, std = np.mean(scores, axis=0), np.std(scores, axis=0)
    header = ["seed", "frozen head, val top-1", "fine-tuned, val top-1", "val top-5", "macro F1", "ECE after calibration",
              "fine-tuning epochs", "val top-1 after each epoch", "training s"]
    per_seed = markdown_table(header, rows)
    summary_table = markdown_table(header[1:6], [[f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std)]])
    print(summary_table)
    epochs = args.epochs or FINETUNE_RECIPE["epochs"]
    write_section(f"finetune-{args.blocks}", f"""## Fine-tuning DINOv2's last {args.blocks} blocks (LP-FT)

`{command_line()}`

The splits of the sections above. `LogoClassifier("dinov2-s14", finetune_blocks={args.blocks})`, as `logolens train
--finetune-blocks {args.blocks}`: the linear head is first fitted on the frozen, cached embeddings (its validation top-1,
before calibration, is the "frozen head" column: the frozen-backbone classifier), then blocks {13 - args.blocks}-12 train with it on crops
augmented afresh every batch (scale, crop, rotation, perspective, colour, blur, JPEG; no flips), up to {epochs} epochs, AdamW
{FINETUNE_RECIPE['lr']:g} for the blocks and 10x for the head, 10 % warm-up then cosine, weight decay {FINETUNE_RECIPE['weight_decay']:g}, label smoothing 0.1,
the final epoch's weights kept; then temperature calibration on the validation crops.
On 2 CPU cores every epoch runs the whole backbone on each augmented crop, hence the training time.

{summary_table}

Per seed:

{per_seed}

The first seed's fine-tuned model exported to int8 ONNX (what `logolens classify` runs): val top-1 {int8:.3f}.
""")


if __name__ == "__main__":
    main()
