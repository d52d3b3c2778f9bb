"""Exporting a trained classifier network to ONNX and running it with onnxruntime.

onnxruntime runs the exported graph (backbone and head in one) several times faster than eager
PyTorch on a CPU, needs no torch at inference, and is what ``logolens classify`` uses when a model
folder holds ``model.onnx``. The graph takes preprocessed images ``(N, 3, S, S)`` float32 and
returns logits ``(N, n_brands)``; temperature and softmax are applied outside, from the manifest.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from logolens.errors import ModelError
from logolens.models import precision
from logolens.models.storage import weights_path
from logolens.utils import atomic_write

ONNX_FILE = "model.onnx"
OPSET = 17
RUNTIMES = ("auto", "torch", "onnx")


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is one of :data:`RUNTIMES`, else a ``ValueError`` naming them."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose from: {', '.join(RUNTIMES)}")
    return runtime


def export_is_current(directory: Path, manifest: dict) -> bool:
    """Whether ``directory`` holds a ``model.onnx`` exported from the weights its manifest names."""
    export = manifest.get("onnx") if isinstance(manifest.get("onnx"), dict) else {}
    return (directory / ONNX_FILE).is_file() and export.get("weights") == weights_path(directory, manifest).name


def choose_runtime(runtime: str, directory: Path, onnx_current: bool) -> str:
    """``torch`` or ``onnx`` for a model folder loaded with ``runtime`` (one of :data:`RUNTIMES`).

    ``auto`` takes the faster: PyTorch where the CPU multiplies bfloat16 natively (there it ran
    the DINOv2 classifier at 45 crops/s against 27 for the int8 export and 13 in float32, batch 32:
    the ``precision`` section of benchmarks/RESULTS.md), else the export when it is up to date and
    onnxruntime is installed, else PyTorch. ``onnx`` insists on an up-to-date export."""
    check_runtime(runtime)
    if runtime == "onnx" and not onnx_current:
        raise ModelError(f"{directory}: no up-to-date {ONNX_FILE}; run 'logolens export --model {directory}'")
    if runtime == "auto":
        fast_torch = precision.chosen_precision() == "bfloat16"  # checks LOGOLENS_PRECISION in every case
        installed = importlib.util.find_spec("onnxruntime") is not None
        return "onnx" if onnx_current and installed and not fast_torch else "torch"
    return runtime


def export_onnx(network: nn.Module, image_size: int, path: str | Path, output_names: tuple[str, ...] = ("logits",)) -> Path:
    """Write ``network`` (eval mode) as an ONNX graph with a dynamic batch axis; its outputs are
    named ``output_names`` (one per tensor the network returns)."""
    network = network.eval()
    example = torch.zeros(1, 3, image_size, image_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            network, (example,), buffer, input_names=["images"], output_names=list(output_names),
            dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in output_names}}, opset_version=OPSET, dynamo=False,
        )
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def quantize_onnx(source: str | Path, path: str | Path) -> Path:
    """Dynamic int8 quantisation of an exported graph's weights (MatMul/Gemm): about 4x smaller
    and faster on CPUs with int8 dot-product instructions, at a small cost in accuracy."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantiser logs advice to the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return atomic_write(path, lambda tmp: quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8))
    finally:
        logging.disable(logging.NOTSET)


class OnnxRunner:
    """Logits from an exported graph: ``runner(x)`` with ``x`` a ``(N, 3, S, S)`` tensor or array."""

    def __init__(self, path: str | Path, threads: int = 2):
        try:
            import onnxruntime
        except ImportError as error:
            raise ModelError("running ONNX models needs onnxruntime: pip install onnxruntime") from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for bad graphs
            raise ModelError(f"{path}: cannot load the ONNX model ({str(error).splitlines()[0]})") from None
        self.input_name = self.session.get_inputs()[0].name

    def outputs(self, x: torch.Tensor | np.ndarray) -> list[np.ndarray]:
        """Every output of the graph, in order."""
        array = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return self.session.run(None, {self.input_name: array.astype(np.float32, copy=False)})

    def __call__(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        return self.outputs(x)[0]


class TorchRunner:
    """Logits from the PyTorch network, in inference mode, batch by batch."""

    def __init__(self, network: nn.Module, batch_size: int = 64):
        self.network = network.eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.network.eval()
        chunks = [self.network(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return torch.cat(chunks) if chunks else torch.zeros(0, 0)

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        return self.logits(x).numpy()
