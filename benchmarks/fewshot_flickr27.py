"""New brands from a few examples on FlickrLogos-27: the leave-brands-out protocol.

For each partition (seed) the 647 images are split image-level 80/20 as in the other benchmarks,
and 7 of the 27 brands are drawn as "new". A default classifier (frozen DINOv2, linear head) is
trained with ``train_and_report`` on the training images that show only the other 20 brands; it
writes the gallery's references of those 20 (training crops in 1 + 4 views), the whitening and the
open-set calibration, all from the 20 brands alone. Then each new brand is enrolled with
``enrol_brand`` from k crops of k different training images, and every crop of the held-out test
images is recognised among all 27 brands (``BrandRecognizer``: what ``logolens classify`` runs).

Open set (k = 5, the protocol's; also k = 10, ``--open-set-shots``, to show what more examples
buy): each new brand in turn is removed from the gallery; its test crops then belong to a brand the
model has neither trained nor enrolled, and must come out ``unknown``. Reported: the share of those
accepted as some brand (false accepts; the mean over the new brands, each weighing the same, and
pooled over their crops), and the share of the enrolled brands' test crops accepted with the right
brand (correct accepts), at the calibrated threshold. Enrolment
time is the wall time of ``enrol_brand`` for 5 images (embedder loaded, empty cache), and of a
whole ``logolens brands add`` process. With rapidocr installed, every k and the open set are also scored
with the text of each crop read and matched to brand names (``--ocr``), to show whether wordmarks help.

    python benchmarks/fewshot_flickr27.py [--data PATH] [--seeds 0 1 2] [--shots 1 5] [--open-set-shots 5 10]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from results import FIGURES, benchmark_parser, command_line, finish_open_set_figure, flickr27_or_exit, machine_speed, markdown_table, write_section

from logolens.classifier import LogoClassifier
from logolens.data.dataset import LogoDataset
from logolens.data.formats import load_dataset
from logolens.data.images import load_image
from logolens.data.splits import split_dataset
from logolens.gallery.enrol import embed_crops, load_embedder
from logolens.gallery.folder import enrol_brand, open_gallery
from logolens.inference.ocr import ocr_available, text_in
from logolens.models import precision
from logolens.recognition import combine, read_turned, with_texts
from logolens.training.run import train_and_report

N_NEW = 7


def leave_brands_out(dataset, seed: int):
    """A partition: ``(rng, new brands, trained brands, image-level 80/20 split, the training images
    showing trained brands only)``; ``rng`` (seeded by ``seed``, having drawn the new brands) is
    for drawing their examples. Shared with ``fewshot_detect_flickr27.py``, so both benchmarks
    hold out the same brands."""
    rng = np.random.default_rng(seed)
    new = sorted(rng.choice(dataset.brands, N_NEW, replace=False).tolist())
    trained = [b for b in dataset.brands if b not in new]
    outer = split_dataset(dataset, 0.2, 0.0, seed)
    known_only = LogoDataset(tuple(r for r in outer.train if r.brands and set(r.brands) <= set(trained)), tuple(trained), "FL27 20 brands")
    return rng, new, trained, outer, known_only


def shots_of(records, brand: str, k: int, rng: np.random.Generator) -> list[tuple[Path, tuple]]:
    """k crops of ``brand`` from k different images."""
    showing = [r for r in records if brand in r.brands]
    chosen = [showing[i] for i in rng.permutation(len(showing))[:k]]
    return [(r.path, next(b.xyxy for b in r.boxes if b.brand == brand)) for r in chosen]


def held_out_crops(outer) -> tuple[np.ndarray, list, list]:
    """Every box of a partition's held-out images (``outer.val``): their brands, the decoded images
    (each decoded once, one entry per box) and the boxes."""
    tests = [(r.path, b.xyxy, b.brand) for r in outer.val for b in r.boxes]
    images = {p: load_image(p) for p in {p for p, _, _ in tests}}
    return np.array([brand for _, _, brand in tests]), [images[p] for p, _, _ in tests], [b for _, b, _ in tests]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--open-set-shots", type=int, nargs="+", default=[5, 10],
                        help="k at which the open set is scored (k = 5 is the protocol's; more examples show the trend)")
    parser.add_argument("--out", default="runs/benchmarks/fewshot")
    parser.add_argument("--cache-dir", help="embedding cache (default: the user cache)")
    parser.add_argument("--no-ocr", action="store_true", help="skip the OCR comparison (it reads every test crop: minutes)")
    args = parser.parse_args()
    use_ocr = not args.no_ocr and ocr_available()
    torch.set_num_threads(2)
    dataset = load_dataset(flickr27_or_exit(args.data), format="flickr27")
    results: dict[str, list[float]] = {}
    curves = []
    enrol_seconds = []

    def record(key: str, value: float) -> None:
        results.setdefault(key, []).append(float(value))

    for seed in args.seeds:
        rng, new, trained, outer, known_only = leave_brands_out(dataset, seed)
        model = Path(args.out) / f"seed{seed}"
        shutil.rmtree(model, ignore_errors=True)
        started = time.perf_counter()
        train_and_report(known_only, model, LogoClassifier("dinov2-s14", seed=seed, cache_dir=args.cache_dir, progress=True),
                         val_fraction=0.2, gallery_ocr=use_ocr)
        record(f"train seconds (classifier + gallery references{' + their text read' if use_ocr else ''}, embedding caches as found)",
               time.perf_counter() - started)
        classifier = LogoClassifier.load(model, runtime="torch")
        truth, crops_images, crops_boxes = held_out_crops(outer)
        trained_probs = classifier.predict_proba(crops_images, crops_boxes)
        is_new = np.isin(truth, new)
        alone = np.array(classifier.brands_)[trained_probs.argmax(axis=1)]
        record("trained brands' crops, top-1, classifier alone", np.mean(alone[~is_new] == truth[~is_new]))
        references = open_gallery(model)
        queries = embed_crops(crops_images, crops_boxes, references.views)
        texts = [text_in(image, box) for image, box in zip(crops_images, crops_boxes)] if use_ocr else []  # read once for every k
        for k in sorted(set(args.shots) | set(args.open_set_shots)):  # in this order, so adding a k leaves the others' draws alone
            enrolled = Path(tempfile.mkdtemp()) / "model"
            shutil.copytree(model, enrolled)
            for brand in new:
                examples = shots_of(outer.train, brand, k, rng)
                start = time.perf_counter()
                enrol_brand(enrolled, brand, [p for p, _ in examples], [b for _, b in examples], cache=None)
                if k == 5:
                    enrol_seconds.append(time.perf_counter() - start)
            gallery = open_gallery(enrolled)
            result = combine(trained_probs, classifier.brands_, gallery, queries)
            said = np.array(result.names)[result.probabilities.argmax(axis=1)]
            record(f"k={k}: new brands' crops, top-1 among 27", np.mean(said[is_new] == truth[is_new]))
            record(f"k={k}: trained brands' crops, top-1 among 27", np.mean(said[~is_new] == truth[~is_new]))
            record(f"k={k}: trained brands' crops taken by a new brand", np.mean(np.isin(said[~is_new], new)))
            if use_ocr:
                with_text = with_texts(result, read_turned(result, texts, crops_images, crops_boxes))
                said_ocr = np.array(with_text.names)[with_text.probabilities.argmax(axis=1)]
                record(f"k={k} with --ocr: new brands' crops, top-1 among 27", np.mean(said_ocr[is_new] == truth[is_new]))
                record(f"k={k} with --ocr: trained brands' crops, top-1 among 27", np.mean(said_ocr[~is_new] == truth[~is_new]))
                if k == 5:
                    record("k=5 with --ocr: crops whose text named a brand", np.mean(with_text.read.any(axis=1)))
            if k in args.open_set_shots:
                curve = score_open_set(record, k, gallery, trained_probs, classifier.brands_, queries, truth, new, said,
                                       result, said_ocr if use_ocr else None, with_text if use_ocr else None,
                                       texts, crops_images, crops_boxes)
                if k == 5:
                    curves.append(curve)
            shutil.rmtree(enrolled.parent, ignore_errors=True)
        print({key: round(values[-1], 3) for key, values in results.items()}, flush=True)

    cli_seconds = time_cli_enrolment(Path(args.out) / f"seed{args.seeds[0]}", dataset, args.seeds[0])
    speed = machine_speed()
    used = precision.chosen_precision()
    speed_used = "" if used == "float32" else f" and {machine_speed(number_format=used):.1f} crops/s in {used}"
    rows = [[key, f"{np.mean(values):.3f}", f"{np.std(values):.3f}" if len(values) > 1 else "", target(key)] for key, values in results.items()]
    rows.append(["enrolment of 5 images, enrol_brand (s)", f"{np.mean(enrol_seconds):.2f}", f"{np.std(enrol_seconds):.2f}", "< 2 s"])
    rows.append(["enrolment of 5 images, whole `logolens brands add` process (s)", f"{cli_seconds:.2f}", "", ""])
    table = markdown_table(["measure (mean over partitions)", "mean", "std", "target"], rows)
    print(table)
    figure = plot_open_set(curves, FIGURES / "fewshot_open_set.png")
    others = [f"k = {k}" for k in sorted(args.open_set_shots) if k != 5]
    more_shots = f" and {', '.join(others)} (more examples: as many images as show the brand, up to k)" if others else ""
    write_section("fewshot", f"""## New brands from a few examples (leave-brands-out)

`{command_line()}`

FlickrLogos-27, {len(args.seeds)} partitions (seeds {', '.join(map(str, args.seeds))}): 20 brands trained, 7 enrolled from k crops of k
training images, every crop of the held-out 20 % images recognised among all 27 brands. Each brand
is enrolled in 1 + {references.views} views; queries are the mean of as many views. Open set at k = 5 (the protocol's){more_shots}, each new brand
in turn removed from the gallery; its false accepts are the mean over the new brands (each weighs the same, so one crop of a
brand with 5 test crops moves it by 0.03) and, in the "pooled" rows, the share of all their crops. "with --ocr": the text of each crop also read and fused as `logolens classify --ocr`
does (a name read takes 0.9 of the probability and accepts the crop; legible text that neither names the crop's
best brand nor reads like its name (a garbled fragment, `ocr.RESEMBLANCE`) makes it `unknown`, unless the crop
turned upside down or sideways reads like that name (`recognition.read_turned`); the open set's threshold is the one the
gallery calibrated for that rule, from the text of its reference crops, `logolens train --ocr`). Backbone inference in {used} (the default
on this CPU). Times depend on the machine's speed of the day: during this run DINOv2 embedded {speed:.1f} crops/s
in float32 (eager PyTorch, batch 32, 2 threads; 17.7 when the pretrained-backbone section was measured){speed_used}.

{table}

![open set](figures/{figure.name})
""")


def score_open_set(record, k: int, gallery, trained_probs, trained_brands, queries, truth, new, said, result,
                   said_ocr, with_text, texts, crops_images, crops_boxes):
    """Record the open set of one enrolment from ``k`` examples per new brand: correct accepts of the
    enrolled and trained brands' crops, and false accepts of each new brand's crops by the gallery
    without it, as the mean over those brands (each brand weighs the same, however few its crops)
    and pooled over their crops. ``said_ocr`` / ``with_text`` (``None``: no OCR) score the same
    with the crops' text read. The gallery's thresholds, which do not depend on what is enrolled, are
    recorded at the protocol's k = 5 only. Returns the visual curve's material for the figure."""
    label = "open set" if k == 5 else f"open set, k={k}"
    is_new = np.isin(truth, new)
    accepted_right = (said == truth) & result.accepted
    record(f"{label}: enrolled brands' crops accepted, right brand", np.mean(accepted_right[is_new]))
    record(f"{label}: trained brands' crops accepted, right brand", np.mean(accepted_right[~is_new]))
    false_accepts, false_accepts_with_text, unknown_best = [], [], []
    for brand in new:
        rows, reduced = np.flatnonzero(truth == brand), gallery.remove(brand)
        without = reduced.match(queries[rows])
        false_accepts.append(without["accepted"])
        unknown_best.append(without["similarity"])
        if with_text is not None:  # accepted, text read, by the gallery without the brand
            alone = combine(trained_probs[rows], trained_brands, reduced, queries[rows])
            alone_texts = read_turned(alone, [texts[i] for i in rows], [crops_images[i] for i in rows], [crops_boxes[i] for i in rows])
            false_accepts_with_text.append(with_texts(alone, alone_texts).accepted)
    record(f"{label}: crops of a brand in neither, accepted as some brand", np.mean([np.mean(a) for a in false_accepts]))
    record(f"{label}: the same, pooled over crops", np.mean(np.concatenate(false_accepts)))
    if k == 5:
        record(f"{label}: calibrated threshold (similarity)", gallery.calibration.threshold)
    if with_text is not None:  # a name read accepts a crop whatever its similarity (logolens classify --ocr)
        accepted_right_text = (said_ocr == truth) & with_text.accepted
        record(f"{label} with --ocr: enrolled brands' crops accepted, right brand", np.mean(accepted_right_text[is_new]))
        record(f"{label} with --ocr: trained brands' crops accepted, right brand", np.mean(accepted_right_text[~is_new]))
        record(f"{label} with --ocr: crops of a brand in neither, accepted as some brand", np.mean([np.mean(a) for a in false_accepts_with_text]))
        record(f"{label} with --ocr: the same, pooled over crops", np.mean(np.concatenate(false_accepts_with_text)))
        if k == 5:
            record(f"{label} with --ocr: calibrated threshold (similarity)", gallery.calibration.text_threshold)
    known_best = gallery.match(queries)["similarity"][is_new]
    return known_best, (said == truth)[is_new], np.concatenate(unknown_best), gallery.calibration.threshold


def target(key: str) -> str:
    key = key.replace(" with --ocr", "")  # logolens classify --ocr is held to the same targets
    return {"k=5: new brands' crops, top-1 among 27": ">= 0.90", "k=1: new brands' crops, top-1 among 27": ">= 0.75",
            "open set: enrolled brands' crops accepted, right brand": ">= 0.90",
            "open set: crops of a brand in neither, accepted as some brand": "<= 0.05"}.get(key, "")


def time_cli_enrolment(model: Path, dataset, seed: int) -> float:
    """Wall time of one ``logolens brands add`` process enrolling a brand from 5 images."""
    copy = Path(tempfile.mkdtemp()) / "model"
    shutil.copytree(model, copy)
    gallery = open_gallery(copy)
    brand = next(b for b in dataset.brands if b not in gallery.trained_brands)
    examples = shots_of(list(dataset), brand, 5, np.random.default_rng(seed))
    arguments = [f"{p}@{','.join(f'{v:g}' for v in box)}" for p, box in examples]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "logolens", "brands", "add", "--model", str(copy), "Bench", *arguments], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(copy.parent, ignore_errors=True)
    return seconds


def plot_open_set(curves, path: Path) -> Path:
    """Correct accepts of enrolled brands against false accepts of brands in neither, over thresholds."""
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    for index, (known, right, unknown, threshold) in enumerate(curves):
        thresholds = np.linspace(-0.2, 1.0, 241)
        false_accept = [(unknown >= t).mean() for t in thresholds]
        correct = [((known >= t) & right).mean() for t in thresholds]
        line, = axis.plot(false_accept, correct, label=f"partition {index}")
        axis.plot([(unknown >= threshold).mean()], [((known >= threshold) & right).mean()], "o", color=line.get_color())
    return finish_open_set_figure(figure, axis, "Open set at k = 5 (dots: calibrated threshold)", path)


if __name__ == "__main__":
    load_embedder()
    main()
