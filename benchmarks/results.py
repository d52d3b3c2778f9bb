"""Shared by the benchmark scripts: find the real data and saved models, and update one section of RESULTS.md.

Each benchmark owns a section between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` markers,
so re-running one benchmark rewrites its own numbers and leaves the others alone.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
FIGURES = HERE / "figures"
FLICKR27 = HERE.parent.parent / "shared" / "datasets" / "flickr_logos_27"
INTRO = """# Benchmark results

Each section below is written by the script whose command it shows (run from the repository root, with
the FlickrLogos-27 training images at `../shared/datasets/flickr_logos_27`); rerunning a script rewrites
its own section only. Machine: 2 CPU cores, no GPU; times are wall-clock and were measured while other
jobs shared the machine, so treat them as upper bounds.
"""


def flickr27_or_exit(path: str | None = None) -> Path:
    root = Path(path) if path else FLICKR27
    if not (root / "flickr_logos_27_dataset_training_set_annotation.txt").is_file():
        sys.exit(f"FlickrLogos-27 not found at {root}; pass --data PATH")
    return root


def benchmark_parser(doc: str, seeds: bool = True, model_dirs: bool = False) -> argparse.ArgumentParser:
    """The options every benchmark script shares: ``--data`` and (``seeds``) ``--seeds``, and
    (``model_dirs``) where the crop benchmarks saved their classifiers (see :func:`saved_classifiers`)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", help="FlickrLogos-27 folder (default: ../shared/datasets/flickr_logos_27)")
    if seeds:
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    if model_dirs:
        parser.add_argument("--transfer-dir", default="runs/benchmarks/transfer", help="models of transfer_flickr27.py")
        parser.add_argument("--finetune-dir", default="runs/benchmarks/finetune", help="models of finetune_flickr27.py")
    return parser


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).resolve().relative_to(HERE.parent).as_posix(), *sys.argv[1:]])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str) -> None:
    """Replace (or append) section ``name`` of RESULTS.md with ``body``."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else INTRO
    block = f"<!-- begin {name} -->\n{body.strip()}\n<!-- end {name} -->"
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def throughput(run, size: int, batch: int, seconds: float = 8.0) -> float:
    """Crops/s of ``run`` (a callable on a ``(batch, 3, size, size)`` tensor) over ``seconds``, after a warm-up."""
    import time

    import torch

    x = torch.randn(batch, 3, size, size)
    run(x)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run(x)
        done += batch
    return done / (time.perf_counter() - started)


def machine_speed(seconds: float = 5.0, number_format: str = "float32") -> float:
    """DINOv2 ViT-S/14 crops/s on this machine now (eager PyTorch, batch 32 at 224 px, 2 threads,
    in float32 unless told otherwise).

    Printed beside timings so that a run on a busy or slower day can be told apart from a slower
    logolens: wall-clock targets (enrolment under 2 s) move with it."""
    import torch

    from logolens.inference.onnx_runtime import TorchRunner
    from logolens.models import precision
    from logolens.models.registry import create_model

    torch.set_num_threads(2)
    with precision.forced(number_format):
        return throughput(TorchRunner(create_model("dinov2-s14")), 224, 32, seconds)


SAVED_CLASSIFIERS = {  # name: (folder option, model folder under it) of the crop benchmarks' classifiers
    "dinov2-s14 (frozen backbone)": ("--transfer-dir", "dinov2-s14-seed{seed}"),
    "dinov2-s14 LP-FT, 2 blocks": ("--finetune-dir", "blocks2-seed{seed}"),
}


def saved_classifiers(dataset, seed: int, args: argparse.Namespace) -> dict[str, Path]:
    """The model folders of :data:`SAVED_CLASSIFIERS` for ``seed``, under the folders named by
    ``args`` (from ``benchmark_parser(..., model_dirs=True)``).

    A missing frozen classifier (``transfer_flickr27.py``) is trained here, about a minute; a missing
    LP-FT one (``finetune_flickr27.py``, about 20 minutes a seed on 2 cores) is left out."""
    from logolens.classifier import LogoClassifier
    from logolens.training.run import train_and_report

    found = {}
    for name, (option, pattern) in SAVED_CLASSIFIERS.items():
        folder = Path(getattr(args, option[2:].replace("-", "_"))) / pattern.format(seed=seed)
        if not (folder / "logolens.json").is_file():
            if option != "--transfer-dir":
                print(f"{name}, seed {seed}: no model in {folder}; left out", flush=True)
                continue
            train_and_report(dataset, folder, LogoClassifier("dinov2-s14", seed=seed, progress=True), val_fraction=0.2, gallery=False)
        found[name] = folder
    return found


def finish_open_set_figure(figure, axis, title: str, path: Path, legend_size: float | None = None) -> Path:
    """Axes, target lines (0.05 false accepts, 0.90 right accepts: issue 5) and file of an open-set
    trade-off plot (right accepts of enrolled brands against false accepts of a brand in neither)."""
    import matplotlib.pyplot as plt

    axis.axvline(0.05, color="grey", lw=0.8, ls="--")
    axis.axhline(0.90, color="grey", lw=0.8, ls="--")
    axis.set_xlabel("crops of a brand in neither, accepted (false accepts)")
    axis.set_ylabel("enrolled brands' crops accepted, right brand")
    axis.set_title(title)
    axis.legend(loc="lower right", fontsize=legend_size)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
