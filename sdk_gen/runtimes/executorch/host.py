"""Running a `.pte` on this machine with ExecuTorch's own runtime (its Python bindings), for
verification.

The program runs through the module API and hands back logits, not through the C++ text runner:
that runner decodes token by token to text and breaks on a token that ends inside a UTF-8
character, and logits are what a quantized artifact is measured by anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from sdk_gen.verify import StopRule


def load_kernels(quantized: bool) -> None:
    """Register the operators an sdkgen `.pte` may call outside XNNPACK's delegate."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401  (llama custom ops: sdpa, update_cache)

    if quantized:
        import executorch.kernels.quantized  # noqa: F401  (quantized_decomposed kernels)


class PteDecoder:
    """One loaded `.pte`: forward(input_ids, cache_position) -> logits, its KV cache inside."""

    def __init__(self, pte: Path, quantized: bool):
        load_kernels(quantized)
        from executorch.runtime import Runtime, Verification

        self.program = Runtime.get().load_program(pte, verification=Verification.Minimal)
        self.methods = set(self.program.method_names)
        self.forward = self.program.load_method("forward")
        # The KV cache's length, and the most tokens one call takes (export.prefill_chunk): a
        # longer prefill goes in calls of `chunk`, as ExecuTorch's text runner prefills it.
        self.chunk = int(self.constant("get_max_seq_len"))
        self.context = int(self.constant("get_max_context_len")) if "get_max_context_len" in self.methods else self.chunk

    def constant(self, name: str):
        """A constant method's value (metadata the export stored)."""
        value = self.program.load_method(name).execute([])[0]
        return value.item() if hasattr(value, "numel") and value.numel() == 1 else value

    def constant_bytes(self, name: str) -> bytes | None:
        if name not in self.methods:
            return None
        value = self.program.load_method(name).execute([])[0]
        return bytes(value.numpy().astype(np.uint8).tobytes())

    def _run(self, ids: Sequence[int], start: int) -> np.ndarray:
        """Logits for each of ``ids`` fed from cache position ``start``, in calls of at most
        ``chunk`` tokens (each call's rows copied out: the output is the runtime's memory)."""
        import torch

        rows = []
        for offset in range(0, len(ids), self.chunk):
            part = list(ids[offset : offset + self.chunk])
            tokens = torch.tensor([part], dtype=torch.long)
            positions = torch.arange(start + offset, start + offset + len(part), dtype=torch.long)
            rows.append(np.array(self.forward.execute([tokens, positions])[0].numpy()[0], copy=True))
        return np.concatenate(rows)

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits after each prefix of ``ids`` (a prefill, chunked), one row per position."""
        if len(ids) >= self.context:
            raise ValueError(f"{len(ids)} tokens exceed the exported cache of {self.context}")
        return self._run(ids, 0)

    def greedy(self, prompt_ids: Sequence[int], steps: int, stop: StopRule) -> list[int]:
        """Prefill the prompt (in chunks), then decode one token per call (as a phone would)."""
        row = self._run(prompt_ids, 0)[-1]
        position = len(prompt_ids)
        generated: list[int] = []
        for _ in range(steps):
            generated.append(int(row.argmax()))
            if stop.hit(generated) or position >= self.context - 1:
                break
            row = self._run(generated[-1:], position)[-1]
            position += 1
        return stop.strip(generated)
