"""How LiteRT's CPU kernels round activations for int8/int4 weights, reproduced in PyTorch.

A FULLY_CONNECTED with float32 input and int8/int4 weights ("dynamic range": the recipes'
``afp32``) does not multiply float activations: each input row (one token's vector) is quantized to
int8 at run time, multiplied in integers, and the sum scaled back. Two schemes exist in LiteRT:

- XNNPACK (the delegate ai_edge_litert's interpreter and litert_lm's CPU engine apply): ``qd8``,
  asymmetric per row: range [min(0, min x), max(0, max x)] over 255 steps, a zero point rounded
  into [-128, 127] (xnn_f32_qd8_asymmetric_quantization_params);
- TFLite's builtin hybrid kernel: symmetric per row, ``scale = max|x| / 127``.

EMBEDDING_LOOKUP reads rows of the quantized table and scales them: no activation is rounded.
"""

from __future__ import annotations

from typing import Callable, ContextManager

import torch

ASYMMETRIC = "row-asymmetric"
SYMMETRIC = "row-symmetric"
SCHEMES = (ASYMMETRIC, SYMMETRIC)


def round_rows_symmetric(x: torch.Tensor) -> torch.Tensor:
    amax = x.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    return torch.round(x / scale).clamp(-127, 127) * scale


def round_rows_asymmetric(x: torch.Tensor) -> torch.Tensor:
    low = x.amin(-1, keepdim=True).clamp(max=0)
    high = x.amax(-1, keepdim=True).clamp(min=0)
    span = high - low
    scale = torch.where(span > 0, span / 255, torch.ones_like(span))
    inverse = 1 / scale
    low_d, high_d = low * inverse, high * inverse
    zero = torch.where((-128 + low_d) + (127 + high_d) > 0, -128 - low_d, 127 - high_d)
    zero = torch.round(zero.clamp(-128, 127))
    q = (torch.round(x * inverse) + zero).clamp(-128, 127)
    return (q - zero) * scale


_ROUNDING: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    ASYMMETRIC: round_rows_asymmetric,
    SYMMETRIC: round_rows_symmetric,
}


def rounded_activations(model: torch.nn.Module, kinds_by_parameter: dict[str, str], scheme: str = ASYMMETRIC) -> ContextManager[None]:
    """While entered, every Linear of ``model`` whose weight the file stores quantized
    (``kinds_by_parameter``: parameter name -> "int8-channelwise" / "int4-blockwise") rounds its
    input rows as LiteRT's kernel would."""
    from sdk_gen.layerwise import rounded_linear_inputs

    rounding = _ROUNDING[scheme]
    return rounded_linear_inputs(model, kinds_by_parameter, lambda kind: rounding)
