"""Running LiteRT artifacts on this machine, for verification.

Two ways in, both LiteRT's own code:
- ``litert_lm.Engine``: the runtime LiteRT-LM apps ship, end to end (tokenizer, prefill, decode,
  stop tokens). Returns text.
- ``ai_edge_litert``'s interpreter on the `.tflite` inside the bundle, through its `decode`
  signature one token at a time: gives the logits, so quantized artifacts can be measured.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from sdk_gen.verify import StopRule


def unpack_litertlm(artifact: Path, into: Path) -> Path:
    """Extract the prefill/decode `.tflite` of a `.litertlm` into ``into``."""
    from litert_lm_builder import litertlm_builder

    litertlm_builder.unpack(str(artifact), str(into))
    found = sorted(into.glob("*prefill_decode*.tflite")) or sorted(into.glob("*.tflite"))
    if not found:
        raise FileNotFoundError(f"{artifact} holds no prefill/decode .tflite")
    return found[0]


class TfliteDecoder:
    """Step a litert-torch export's `decode` signature token by token, keeping its KV cache."""

    def __init__(self, tflite: Path, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self.runner = Interpreter(model_path=str(tflite), num_threads=threads).get_signature_runner("decode")
        inputs = self.runner.get_input_details()
        self.cache_inputs = {name: detail for name, detail in inputs.items() if name.startswith("kv_cache")}
        self.mask = inputs["mask"]
        self.context = int(self.mask["shape"][-1])

    def _fresh_cache(self) -> dict[str, np.ndarray]:
        return {name: np.zeros(d["shape"], d["dtype"]) for name, d in self.cache_inputs.items()}

    def _mask(self, position: int) -> np.ndarray:
        if self.mask["dtype"] == np.bool_:
            mask = np.zeros(self.mask["shape"], np.bool_)
            mask[..., : position + 1] = True
        else:
            mask = np.full(self.mask["shape"], -np.inf, self.mask["dtype"])
            mask[..., : position + 1] = 0
        return mask

    def _step(self, token: int, position: int, cache: dict) -> tuple[np.ndarray, dict]:
        out = self.runner(
            tokens=np.array([[token]], np.int32),
            input_pos=np.array([position], np.int32),
            mask=self._mask(position),
            **cache,
        )
        return out["logits"].reshape(-1), {name: out[name] for name in self.cache_inputs}

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits after each prefix of ``ids`` (teacher forcing), one row per position."""
        if len(ids) > self.context:
            raise ValueError(f"{len(ids)} tokens exceed the exported cache of {self.context}")
        cache = self._fresh_cache()
        rows = []
        for position, token in enumerate(ids):
            row, cache = self._step(token, position, cache)
            rows.append(row)
        return np.stack(rows)

    def greedy(self, prompt_ids: Sequence[int], steps: int, stop: StopRule) -> list[int]:
        cache = self._fresh_cache()
        for position, token in enumerate(prompt_ids):
            row, cache = self._step(token, position, cache)
        position = len(prompt_ids)
        generated: list[int] = []
        for _ in range(steps):
            generated.append(int(row.argmax()))
            if stop.hit(generated) or position >= self.context:
                break
            row, cache = self._step(generated[-1], position, cache)
            position += 1
        return stop.strip(generated)


class EngineRunner:
    """litert_lm.Engine on the CPU with greedy sampling: what a LiteRT-LM app does on the phone."""

    def __init__(self, artifact: Path, context: int, threads: int = 2):
        import litert_lm

        litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
        self._litert_lm = litert_lm
        self._cache_dir = tempfile.TemporaryDirectory(prefix="sdkgen-litertlm-")
        self.engine = litert_lm.Engine(
            str(artifact),
            backend=litert_lm.Backend.CPU(thread_count=threads),
            max_num_tokens=context,
            cache_dir=self._cache_dir.name,
        )

    def stop_rule(self) -> StopRule:
        return StopRule(tuple(tuple(ids) for ids in self.engine.eos_token_ids if ids))

    def tokenize(self, text: str) -> list[int]:
        return list(self.engine.tokenize(text))

    @staticmethod
    def visible_reference(reference_ids: Sequence[int], steps: int, stop: StopRule) -> tuple[list[int], str | None]:
        """The part of a reference continuation that litert_lm's text API can show, and why if not all.

        Two behaviours of litert_lm 0.18 (not of the model): when generation ends at
        max_output_tokens, trailing tokens that could still begin a multi-token stop sequence are
        held back and never emitted; and text crosses the C API as a NUL-terminated string, so a
        generated NUL byte ends it. The logit check still covers every token.
        """
        ids = list(reference_ids)
        reason = None
        if len(ids) >= steps:
            longest = max((len(s) for s in stop.sequences), default=1)
            for held in range(min(longest - 1, len(ids)), 0, -1):
                tail = tuple(ids[-held:])
                if any(len(s) > held and s[:held] == tail for s in stop.sequences):
                    ids = ids[:-held]
                    reason = f"{held} final token(s) held back by the engine as a possible stop sequence"
                    break
        return ids, reason

    def greedy_text(self, prompt: str, steps: int) -> str:
        lm = self._litert_lm
        session = self.engine.create_session(
            apply_prompt_template=False,
            sampler_config=lm.SamplerConfig(top_k=1, temperature=0.0),
            max_output_tokens=steps,
        )
        try:
            session.run_prefill([prompt])
            return "".join(session.run_decode().texts)
        finally:
            session.close()

    def close(self) -> None:
        self.engine.close()
        self._cache_dir.cleanup()
