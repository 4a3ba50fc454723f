"""The PyTorch reference computed one weight-holding unit at a time, for models too big to hold.

A whole float32 model is 4 bytes per parameter (32 GB at 8B): more than a laptop has. The answer
the verification needs, next-token logits over a handful of sequences, does not need the model
held at once: transformers' own model is built with its parameters on the ``meta`` device (no
memory), and every unit that holds weights (the token embedding, each decoder layer, the final
norm, the output matrix) gets its float32 weights from a WeightSource just before it runs and gives
them back just after. The forward itself is transformers' own code for the family (embedding
scale, rotary tables, sliding windows, soft-capping), so nothing of any architecture is re-written.

All the sequences of one question run in one forward pass, packed into one row with per-sequence
position ids (transformers then masks attention block-diagonally, each sequence seeing only its own
earlier tokens): the weights are read once per pass, whatever the number of sequences.

Sources read tensor bytes with plain reads, not memory maps: a mapped 16 GB checkpoint would count,
page by page, in the resident memory this module exists to keep small.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np
    import torch


class WeightSource(Protocol):
    """Float32 tensors by Hugging Face parameter name."""

    def tensor(self, name: str, shape: tuple[int, ...]) -> "torch.Tensor":
        """The parameter ``name`` as a float32 tensor of ``shape``."""


# safetensors dtypes a checkpoint's float weights come in, as torch dtypes (by name: torch loads lazily).
_TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


@dataclass(frozen=True)
class _StoredTensor:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int


class CheckpointWeights:
    """The checkpoint's own tensors (``fp16=True``: 2-D ones rounded to fp16, as fp16 formats store them)."""

    def __init__(self, model_dir: Path, fp16: bool = False):
        self.model_dir = model_dir
        self.fp16 = fp16
        self._stored = _safetensors_index(model_dir)

    def has(self, name: str) -> bool:
        return name in self._stored

    def tensor(self, name: str, shape: tuple[int, ...]) -> "torch.Tensor":
        import torch

        stored = self._stored.get(name)
        if stored is None:
            raise KeyError(f"{self.model_dir} holds no tensor {name}")
        if stored.shape != tuple(shape):
            raise ValueError(f"{name}: the checkpoint's shape {stored.shape}, the model's {tuple(shape)}")
        dtype = _TORCH_DTYPES.get(stored.dtype)
        if dtype is None:
            raise ValueError(f"{name} is stored as {stored.dtype}; the layer-by-layer reference reads F32, F16 and BF16")
        with stored.file.open("rb") as handle:
            handle.seek(stored.start)
            raw = bytearray(handle.read(stored.end - stored.start))
        values = torch.frombuffer(raw, dtype=getattr(torch, dtype)).reshape(shape).float()
        if self.fp16 and values.dim() == 2:
            values = values.half().float()
        return values


def _safetensors_index(model_dir: Path) -> dict[str, _StoredTensor]:
    import struct

    index_path = model_dir / "model.safetensors.index.json"
    files = (
        sorted({model_dir / f for f in json.loads(index_path.read_text())["weight_map"].values()})
        if index_path.is_file() else sorted(model_dir.glob("*.safetensors"))
    )
    stored: dict[str, _StoredTensor] = {}
    for file in files:
        with file.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_len))
        base = 8 + header_len
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            stored[name] = _StoredTensor(file, info["dtype"], tuple(info["shape"]), base + start, base + end)
    return stored


@dataclass(frozen=True)
class _Unit:
    """A module whose parameters are materialized together: loaded before it runs, freed after."""

    prefix: str  # its name in the model, "" for the model itself
    module: "torch.nn.Module"
    meta: dict  # local parameter name -> the meta Parameter it had (restored after the unit runs)


class LayerwiseModel:
    """A Hugging Face causal LM whose weights come from ``source`` one unit at a time.

    ``aliases`` maps every parameter name to the name it is stored under (a tied output matrix is
    the embedding): sources are asked only for stored names."""

    def __init__(self, model_dir: Path, source: WeightSource):
        import torch
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM

        self.source = source
        config = AutoConfig.from_pretrained(model_dir)
        # Parameters on meta (no memory); buffers (rotary tables, embedding scales) are real.
        with init_empty_weights(include_buffers=False):
            self.model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        self.model.tie_weights()  # from_pretrained ties a tied output matrix to the embedding; from_config may not
        self.aliases = stored_names(self.model)
        self.units = _units(self.model)
        for unit in self.units:
            unit.module.register_forward_pre_hook(lambda module, args, unit=unit: self._load(unit))
            unit.module.register_forward_hook(lambda module, args, output, unit=unit: self._free(unit))

    @property
    def largest_unit_params(self) -> int:
        return max(sum(p.numel() for p in unit.meta.values()) for unit in self.units)

    def _load(self, unit: _Unit) -> None:
        import torch

        for local, meta in unit.meta.items():
            name = f"{unit.prefix}.{local}" if unit.prefix else local
            values = self.source.tensor(self.aliases.get(name, name), tuple(meta.shape))
            _set_parameter(unit.module, local, torch.nn.Parameter(values, requires_grad=False))

    def _free(self, unit: _Unit) -> None:
        for local, meta in unit.meta.items():
            _set_parameter(unit.module, local, meta)

    def logits(self, sequences: Sequence[Sequence[int]]) -> list["np.ndarray"]:
        """Next-token logits at every position of each sequence, in one pass over the weights."""
        import torch

        ids = torch.tensor([[t for seq in sequences for t in seq]])
        positions = torch.tensor([[p for seq in sequences for p in range(len(seq))]])
        with torch.no_grad():
            rows = self.model(input_ids=ids, position_ids=positions, use_cache=False).logits[0].float().numpy()
        out, start = [], 0
        for seq in sequences:
            out.append(rows[start:start + len(seq)].copy())
            start += len(seq)
        return out


def stored_names(model: "torch.nn.Module") -> dict[str, str]:
    """Every parameter name -> the name its tensor is stored under (tied parameters share the first)."""
    first_by_identity: dict[int, str] = {}
    aliases = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        aliases[name] = first_by_identity.setdefault(id(param), name)
    return aliases


@contextlib.contextmanager
def rounded_linear_inputs(
    model: "torch.nn.Module", kinds_by_parameter: dict[str, str], rounding_of: Callable[[str], Callable | None]
) -> Iterator[None]:
    """While entered, every Linear of ``model`` whose weight the artifact stores in some kind
    (``kinds_by_parameter``: parameter name -> the artifact's type for it) rounds its input as
    ``rounding_of(kind)`` says (None: not at all), the way the runtime's kernels round activations.

    Linears are found by their weight's name, a tied output matrix by the embedding's it shares:
    by names, not by tensor identity, because the layer-by-layer reference swaps each module's
    tensors in and out while the hooks stay."""
    import torch

    stored = stored_names(model)
    hooks = []
    try:
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            weight = f"{name}.weight"
            kind = kinds_by_parameter.get(weight) or kinds_by_parameter.get(stored.get(weight, weight))
            rounding = rounding_of(kind) if kind else None
            if rounding is not None:
                hooks.append(module.register_forward_pre_hook(lambda _, args, r=rounding: (r(args[0]), *args[1:])))
        yield
    finally:
        for hook in hooks:
            hook.remove()


def _units(model: "torch.nn.Module") -> list[_Unit]:
    """Decoder layers (the members of ModuleLists) and every other module holding parameters of its own."""
    import torch

    units: list[_Unit] = []
    claimed: set[str] = set()

    def claim(prefix: str, module: torch.nn.Module, recurse: bool) -> None:
        params = dict(module.named_parameters(recurse=recurse, remove_duplicate=False))
        if params:
            units.append(_Unit(prefix, module, params))
            claimed.add(prefix)

    for name, module in model.named_modules():
        if any(name == c or name.startswith(c + ".") for c in claimed if c):
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if name else None
        if isinstance(parent, torch.nn.ModuleList) and leaf.isdigit():
            claim(name, module, recurse=True)
        else:
            claim(name, module, recurse=False)
    return units


def _set_parameter(module: "torch.nn.Module", local: str, value) -> None:
    owner_name, _, leaf = local.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    owner._parameters[leaf] = value

