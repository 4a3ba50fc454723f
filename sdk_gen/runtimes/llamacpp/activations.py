"""How ggml's CPU matrix products round their activations, reproduced in PyTorch.

A matrix product with quantized weights does not see float activations on llama.cpp's CPU backend:
ggml converts the activation rows to the weight type's ``vec_dot_type`` first, then multiplies in
integers (ggml-cpu's type traits; the repacked q4_0/q4_K layouts use the same rounding):

- Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights: activations become Q8_0, blocks of 32 values with
  ``d = amax / 127`` stored as fp16 and ``q = round(x * 127 / amax)``;
- K-quant weights (Q2_K ... Q6_K): activations become Q8_K, blocks of 256 with the signed value of
  largest magnitude mapped to -127 (``d = max / -127`` in float32, ``q`` clamped to 127);
- F16 weights: activations are rounded to fp16.

The host check uses this to measure how much that rounding alone moves the logits of *this*
model (verify.FidelityFigures.rounding_noise). It cannot make PyTorch equal llama.cpp bit for bit:
the values entering each rounding already differ in the last fp16 bits (llama.cpp keeps K/V in
fp16 and tabulates GELU in fp16), and every element that then rounds the other way moves by a whole
8-bit step, so llama.cpp's result is another draw of the same rounding noise, not the same draw.
Measured on the demo model over 457 positions (rms |dlogit| against unrounded PyTorch on the same
weights, the emulation / llama.cpp): f16 3.4e-4 / 4.3e-4; q8_0 9.98e-3 / 9.96e-3; q4_0 1.04e-2 /
1.04e-2; q4_k_m 1.34e-2 / 1.34e-2 (largest: q8_0 0.047 / 0.047, q4_k_m 0.070 / 0.076).
"""

from __future__ import annotations

from typing import Callable, ContextManager

import torch

_Q8_0_ACTIVATION_TYPES = frozenset({"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"})
_Q8_K_ACTIVATION_TYPES = frozenset({"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
Q8_0_BLOCK = 32
Q8_K_BLOCK = 256


def round_like_q8_0(x: torch.Tensor) -> torch.Tensor:
    blocks = x.reshape(-1, Q8_0_BLOCK)
    amax = blocks.abs().amax(1, keepdim=True)
    inverse = torch.where(amax > 0, 127 / amax, torch.zeros_like(amax))
    scale = (amax / 127).half().float()  # ggml stores the block scale as fp16
    return (torch.round(blocks * inverse) * scale).reshape(x.shape)


def round_like_q8_k(x: torch.Tensor) -> torch.Tensor:
    blocks = x.reshape(-1, Q8_K_BLOCK)
    signed_max = blocks.gather(1, blocks.abs().argmax(1, keepdim=True))
    inverse = torch.where(signed_max != 0, -127 / signed_max, torch.zeros_like(signed_max))
    scale = torch.where(signed_max != 0, 1 / inverse, torch.zeros_like(signed_max))
    return (torch.clamp(torch.round(blocks * inverse), max=127) * scale).reshape(x.shape)


def round_like_f16(x: torch.Tensor) -> torch.Tensor:
    return x.half().float()


def activation_rounding(ggml_type: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What ggml does to the activations multiplied with weights of ``ggml_type`` (None: nothing)."""
    if ggml_type in _Q8_0_ACTIVATION_TYPES:
        return round_like_q8_0
    if ggml_type in _Q8_K_ACTIVATION_TYPES:
        return round_like_q8_k
    if ggml_type == "F16":
        return round_like_f16
    return None


def rounded_activations(model: torch.nn.Module, types_by_parameter: dict[str, str]) -> ContextManager[None]:
    """While entered, every Linear of ``model`` whose weight the artifact stores as a ggml type
    (``types_by_parameter``: parameter name -> type name) rounds its input as ggml would."""
    from sdk_gen.layerwise import rounded_linear_inputs

    return rounded_linear_inputs(model, types_by_parameter, activation_rounding)
