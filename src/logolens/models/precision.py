"""Numeric precision of backbone inference: bfloat16 where the CPU multiplies it natively.

Almost all of logolens's time goes into DINOv2's matrix products. CPUs with AMX or AVX-512 BF16
units (Intel Xeon since Sapphire Rapids, AMD Zen 4) multiply bfloat16 several times faster than
float32: on the 2-core development machine a batch of 25 crops took 0.46 s instead of 1.55 s,
and the embeddings kept a cosine similarity of 0.9999 with the float32 ones (see the
``precision`` section of benchmarks/RESULTS.md for accuracy on real data). Elsewhere bfloat16 is
emulated and slower, so it is used only where it pays. It applies to DINOv2 (the default backbone,
the detector's and the brand embedding's); the seed CNN and EfficientNet-Lite stay float32.

Only inference switches: with gradients enabled (training, fine-tuning) and while exporting to
ONNX the backbone always runs in float32, so checkpoints, exports and their checks are unchanged.
Embeddings come out as float32 either way and are treated as the same embedding (cached vectors
and stored galleries stay valid across precisions).

``LOGOLENS_PRECISION`` (read at call time) chooses: ``auto`` (default: bfloat16 when the CPU has
native support), ``float32`` or ``bfloat16``. :func:`forced` overrides it for one block of code in
one thread (or asyncio task) only, without touching the environment: an ONNX export checked in
float32 on one thread leaves a request served in bfloat16 on another alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Iterator

import torch

ENV_VAR = "LOGOLENS_PRECISION"
CHOICES = ("auto", "float32", "bfloat16")
_FORCED: contextvars.ContextVar[str | None] = contextvars.ContextVar("logolens_precision", default=None)  # set by forced()


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX tiles or AVX-512 BF16)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    for check in checks:
        try:
            if check is not None and check():
                return True
        except (RuntimeError, AttributeError):  # private torch helpers: absent or failing means no
            continue
    return False


def chosen_precision() -> str:
    """``float32`` or ``bfloat16``: what backbone inference runs in now (see the module docstring)."""
    value = _FORCED.get() or os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV_VAR}={value!r}: choose from {', '.join(CHOICES)}")
    if value == "auto":
        return "bfloat16" if cpu_has_fast_bfloat16() else "float32"
    return value


def inference_context(device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """The autocast context backbone inference runs under: bfloat16 autocast when chosen and the
    call is plain inference (no gradients, not an ONNX export, CPU tensors); otherwise nothing."""
    if torch.device(device).type != "cpu" or torch.is_grad_enabled() or torch.onnx.is_in_onnx_export():
        return contextlib.nullcontext()
    if torch.jit.is_tracing() or chosen_precision() != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


@contextlib.contextmanager
def forced(precision: str) -> Iterator[None]:
    """Run a block as if ``LOGOLENS_PRECISION`` were ``precision`` (e.g. to compare with float32),
    in this thread or task only; the environment is not changed."""
    if precision not in CHOICES:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(CHOICES)}")
    token = _FORCED.set(precision)
    try:
        yield
    finally:
        _FORCED.reset(token)
