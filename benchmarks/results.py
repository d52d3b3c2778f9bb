"""Shared by the benchmark scripts: find the real data, and update one section of RESULTS.md.

Each benchmark owns a section between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` markers,
so re-running one benchmark rewrites its own numbers and leaves the others alone.
"""

from __future__ import annotations

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
