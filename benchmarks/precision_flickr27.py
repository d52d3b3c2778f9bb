"""bfloat16 against float32 backbone inference: accuracy, crops/s and enrolment time (FlickrLogos-27).

``logolens.models.precision`` runs DINOv2 inference in bfloat16 on CPUs that multiply it natively
(AMX, AVX-512 BF16). This checks that it is the same model, only faster:

* accuracy: the saved frozen-backbone classifiers of ``transfer_flickr27.py`` and, where present,
  the LP-FT ones of ``finetune_flickr27.py`` classify every validation crop of their seed (the
  image-level 80/20 splits of those benchmarks) in each precision; reported are top-1 in each,
  the share of crops whose answer changed and the largest change of a probability;
* speed: crops/s of the seed-0 frozen classifier on preprocessed crops, batch 1 and 32, 2 threads,
  in PyTorch float32 and bfloat16 and in onnxruntime float32 and int8 (exports written to a copy);
* enrolment: wall time of ``enrol_brand`` from 5 crops of 5 training images, for the 7 new brands
  of the few-shot benchmark's partition 0 (its saved model, ``fewshot_flickr27.py``), each precision.

A missing frozen classifier is trained here (about a minute); a missing LP-FT model or few-shot
model is left out.

    python benchmarks/precision_flickr27.py [--data PATH] [--seeds 0 1 2]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fewshot_flickr27 import leave_brands_out, shots_of
from results import benchmark_parser, command_line, flickr27_or_exit, markdown_table, saved_classifiers, throughput, write_section

from logolens.classifier import LogoClassifier
from logolens.data.formats import load_dataset
from logolens.data.images import load_image
from logolens.data.splits import split_dataset
from logolens.gallery.enrol import load_embedder
from logolens.gallery.folder import enrol_brand
from logolens.inference.onnx_runtime import OnnxRunner, TorchRunner
from logolens.models import precision

FORMATS = ("float32", "bfloat16")


def accuracy_rows(dataset, args) -> list[list[str]]:
    rows = []
    for seed in args.seeds:
        split = split_dataset(dataset, 0.2, 0.0, seed)
        tests = [(record.path, box.xyxy, box.brand) for record in split.val for box in record.boxes]
        images = {path: load_image(path) for path in {path for path, _, _ in tests}}
        crops, boxes = [images[path] for path, _, _ in tests], [box for _, box, _ in tests]
        truth = np.array([brand for _, _, brand in tests])
        for name, folder in saved_classifiers(dataset, seed, args).items():
            classifier = LogoClassifier.load(folder, runtime="torch")
            probabilities = {}
            for number_format in FORMATS:
                with precision.forced(number_format):
                    probabilities[number_format] = classifier.predict_proba(crops, boxes)
            said = {f: np.array(classifier.brands_)[p.argmax(axis=1)] for f, p in probabilities.items()}
            changed = float(np.mean(said["float32"] != said["bfloat16"]))
            largest = float(np.abs(probabilities["float32"] - probabilities["bfloat16"]).max())
            rows.append([name, str(seed), str(len(tests)), *(f"{np.mean(said[f] == truth):.3f}" for f in FORMATS),
                         f"{changed:.3f}", f"{largest:.3f}"])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def speed_rows(folder: Path) -> list[list[str]]:
    copy = Path(tempfile.mkdtemp()) / "model"
    shutil.copytree(folder, copy)
    try:
        classifier = LogoClassifier.load(copy, runtime="torch")
        size = classifier.preprocessing_.image_size
        runners = {}
        for number_format in FORMATS:
            runners[f"PyTorch {number_format}"] = (TorchRunner(classifier.network), number_format)
        classifier.export_onnx()
        runners["onnxruntime float32"] = (OnnxRunner(copy / "model.onnx", threads=2), "float32")
        classifier.export_onnx(quantize=True)
        runners["onnxruntime int8"] = (OnnxRunner(copy / "model.onnx", threads=2), "float32")
        rows = []
        for label, (runner, number_format) in runners.items():
            with precision.forced(number_format):
                rows.append([label, *(f"{throughput(runner, size, batch):.1f}" for batch in (1, 32))])
            print(" | ".join(rows[-1]), flush=True)
        return rows
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)


def enrolment_rows(dataset, model: Path, seed: int = 0) -> list[list[str]]:
    if not (model / "gallery.npz").is_file():
        print(f"no few-shot model in {model} (run fewshot_flickr27.py); enrolment left out", flush=True)
        return []
    rng, new, _, outer, _ = leave_brands_out(dataset, seed)
    examples = {brand: shots_of(outer.train, brand, 5, rng) for brand in new}
    load_embedder()  # built once per process, as in a long-running service
    rows = []
    for number_format in FORMATS:
        copy = Path(tempfile.mkdtemp()) / "model"
        shutil.copytree(model, copy)
        seconds = []
        with precision.forced(number_format):
            for brand, shots in examples.items():
                started = time.perf_counter()
                enrol_brand(copy, brand, [p for p, _ in shots], [b for _, b in shots], cache=None)
                seconds.append(time.perf_counter() - started)
        shutil.rmtree(copy.parent, ignore_errors=True)
        rows.append([number_format, f"{np.mean(seconds):.2f}", f"{np.std(seconds):.2f}", f"{max(seconds):.2f}"])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = benchmark_parser(__doc__, model_dirs=True)
    parser.add_argument("--fewshot-dir", default="runs/benchmarks/fewshot", help="models of fewshot_flickr27.py")
    args = parser.parse_args()
    torch.set_num_threads(2)
    fast = precision.cpu_has_fast_bfloat16()
    print(f"native bfloat16 on this CPU: {fast}", flush=True)
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    accuracy = accuracy_rows(dataset, args)
    speed = speed_rows(Path(args.transfer_dir) / f"dinov2-s14-seed{args.seeds[0]}")
    enrolment = enrolment_rows(dataset, Path(args.fewshot_dir) / "seed0")
    accuracy_table = markdown_table(["classifier", "seed", "val crops", "top-1 float32", "top-1 bfloat16",
                                     "answers changed", "largest probability change"], accuracy)
    speed_table = markdown_table(["runtime", "crops/s, batch 1", "crops/s, batch 32"], speed)
    enrolment_table = markdown_table(["precision", "enrol_brand, 5 images (s, mean over 7 brands)", "std", "slowest"], enrolment)
    print(accuracy_table, speed_table, enrolment_table, sep="\n\n")
    write_section("precision", f"""## bfloat16 inference on CPUs that have it (the default there)

`{command_line()}`

DINOv2 inference runs in bfloat16 where the CPU multiplies it natively (this machine: {'yes' if fast else 'no'},
2 threads), float32 elsewhere and always in training and ONNX exports (`LOGOLENS_PRECISION` overrides; see
`logolens.models.precision`). Same classifiers, same validation crops (image-level 80/20 splits of the
pretrained-backbone section), each precision:

{accuracy_table}

Classification throughput of the seed-{args.seeds[0]} frozen classifier (preprocessed crops; `--runtime auto` takes
PyTorch bfloat16 on such CPUs, else the ONNX export):

{speed_table}

Enrolling a brand from 5 crops of 5 images (`enrol_brand`, embedder already loaded, no cache; the few-shot
benchmark's partition-0 model and its 7 new brands):

{enrolment_table}
""")


if __name__ == "__main__":
    main()
