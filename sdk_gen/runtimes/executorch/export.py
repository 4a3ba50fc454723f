"""Export a Hugging Face checkpoint to an ExecuTorch `.pte` in a child process.

The route: transformers' own exportable wrapper (a static KV cache held as buffers the program
updates in place) -> ``torch.export`` (strict: the non-strict trace fails on the cache) ->
ExecuTorch's edge dialect lowered to XNNPACK -> the `.pte` flatbuffer. For 8da4w, torchao
quantizes the linear layers first (int8 dynamic activations, int4 weights in groups), and the
XNNPACK partitioner takes the quantized linears.

The program's one method, ``forward(input_ids[1, n], cache_position[n]) -> logits[1, n, vocab]``,
takes any n from 1 to the prefill chunk (prefill_chunk(context): 128, or context - 1 below it;
prefill and decode through one method; a longer prompt goes in several calls). Metadata rides along
as constant methods (the names ExecuTorch's LLM runners read), and the tokenizer files as
constant byte tensors, so the cached artifact is one self-contained file.

Run as a module, this file is that child: it keeps torch.export's and ExecuTorch's imports and
log output out of sdkgen's process, and can be stopped cleanly on Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# Tokenizer files carried inside the program as constant methods (name -> method).
TOKENIZER_METHODS = {
    "tokenizer.json": "sdkgen_tokenizer_json",
    "tokenizer_config.json": "sdkgen_tokenizer_config_json",
    "chat_template.jinja": "sdkgen_chat_template_jinja",
}
# 8da4w: int4 weights, one scale per group of this many inputs (XNNPACK's blockwise kernels).
GROUP_SIZE = 32
# The most tokens one call of the method takes (get_max_seq_len). ExecuTorch plans its memory
# arena at load for the longest call the method accepts, so a method that took the whole context
# would hold context x context attention buffers (tiny demo at context 1024: 88 MiB peak against
# 21 MiB at 256). Capped here, as ExecuTorch's own LLM export caps it below the cache
# (get_max_context_len); its text runner prefills a longer prompt in chunks of get_max_seq_len
# (TextPrefiller::prefill), and host.PteDecoder does the same.
PREFILL_CHUNK = 128


def prefill_chunk(context: int) -> int:
    """The longest call the exported method takes: PREFILL_CHUNK, or context - 1 below it."""
    return min(PREFILL_CHUNK, context - 1)


def quantize_8da4w(model, group_size: int = GROUP_SIZE):
    """torchao's 8da4w on every linear layer, in place: what the export bakes in and what the
    verification's PyTorch reference runs eagerly (one function, so both are the same)."""
    import torch
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    quantize_(model, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(group_size)))
    return model


def prepare_8da4w(model):
    """Quantize a float32 model for the 8da4w export, in place."""
    import torch

    # A tied output matrix shares the embedding's tensor: untie it, so only the linear is quantized.
    output = model.get_output_embeddings()
    if output is not None and output.weight is model.get_input_embeddings().weight:
        output.weight = torch.nn.Parameter(output.weight.detach().clone(), requires_grad=False)
    return quantize_8da4w(model)


def load_model(model_dir: Path, quant: str):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    if quant == "8da4w":
        prepare_8da4w(model)
    return model


def tokenizer_files(tokenizer_dir: Path, model_dir: Path) -> dict[str, bytes]:
    """The tokenizer files the program carries, by constant method name.

    tokenizer.json is written as transformers builds the tokenizer, not copied: for some model
    types (Qwen2) transformers replaces the file's pre-tokenizer with the family's own, and the
    model was trained on what transformers encodes (a tiny Qwen2 with a generic byte-level BPE
    split digits differently from its raw tokenizer.json)."""
    from transformers import AutoTokenizer

    found: dict[str, bytes] = {}
    for name, method in TOKENIZER_METHODS.items():
        path = tokenizer_dir / name if (tokenizer_dir / name).is_file() else model_dir / name
        if path.is_file():
            found[method] = path.read_bytes()
    backend = getattr(AutoTokenizer.from_pretrained(tokenizer_dir), "backend_tokenizer", None)
    if backend is not None:
        found[TOKENIZER_METHODS["tokenizer.json"]] = without_nfc(backend.to_str()).encode("utf-8")
    return found


def without_nfc(tokenizer_json: str) -> str:
    """tokenizer.json with a normalizer of exactly NFC removed (else unchanged).

    The runners' tokenizer library (pytorch/tokenizers' HFTokenizer) implements NFC by stripping
    accents ("café naïve": 8 tokens against transformers' 11), so the phone engines NFC-normalize
    the prompt with the OS's own Unicode tables instead (needs_nfc) and the runner gets no
    normalizer: NFC is idempotent, so the ids are transformers'."""
    data = json.loads(tokenizer_json)
    if data.get("normalizer") != {"type": "NFC"}:
        return tokenizer_json
    data["normalizer"] = None
    return json.dumps(data, ensure_ascii=False)


def needs_nfc(tokenizer_dir: Path) -> bool:
    """Whether the model's tokenizer (as transformers builds it) normalizes to NFC: the phone
    engines then NFC-normalize the prompt before the runner encodes it (see without_nfc)."""
    from transformers import AutoTokenizer

    backend = getattr(AutoTokenizer.from_pretrained(tokenizer_dir), "backend_tokenizer", None)
    if backend is None:
        return False
    return json.loads(backend.to_str()).get("normalizer") == {"type": "NFC"}


def stop_ids(*sources) -> list[int]:
    """The ids that end a reply, for the runners' `get_eos_ids`: the config's end of text and
    generation_config.json's (a chat model's end of turn, e.g. ChatML's <|im_end|>, is often only
    there). ExecuTorch's text runner stops only at these, so a missing end-of-turn id lets a
    phone's reply run on into a made-up next turn."""
    ids: list[int] = []
    for source in sources:
        for value in source if isinstance(source, (list, tuple)) else [source]:
            if isinstance(value, int) and value >= 0 and value not in ids:
                ids.append(value)
    return ids


def _export(request: dict) -> dict:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
    from transformers.integrations.executorch import TorchExportableModuleForDecoderOnlyLM

    model_dir, context, quant = Path(request["model_dir"]), int(request["context"]), request["quant"]
    started = time.monotonic()
    print(f"sdkgen: loading {model_dir.name} (float32{', 8da4w' if quant == '8da4w' else ''})", flush=True)
    model = load_model(model_dir, quant)
    model.generation_config.use_cache = True
    model.generation_config.cache_implementation = "static"
    wrapper = TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=context)

    chunk = prefill_chunk(context)
    print(f"sdkgen: torch.export (strict, static KV cache of {context} tokens, calls of 1 to {chunk})", flush=True)
    length = torch.export.Dim("length", min=1, max=chunk)
    example = torch.zeros((1, 2), dtype=torch.long)
    with torch.no_grad():
        program = wrapper.export(
            input_ids=example,
            cache_position=torch.arange(2, dtype=torch.long),
            dynamic_shapes={"input_ids": {1: length}, "cache_position": {0: length}},
            strict=True,
        )
    config = model.config.get_text_config()
    metadata = {
        "get_max_seq_len": chunk,
        "get_max_context_len": context,
        "get_vocab_size": int(config.vocab_size),
        "use_kv_cache": True,
        "enable_dynamic_shape": True,
        "get_bos_id": int(config.bos_token_id) if isinstance(config.bos_token_id, int) else -1,
        "get_eos_ids": stop_ids(config.eos_token_id, model.generation_config.eos_token_id),
    }
    for method, data in tokenizer_files(Path(request.get("tokenizer_dir") or model_dir), model_dir).items():
        metadata[method] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    print("sdkgen: lowering to XNNPACK", flush=True)
    edge = to_edge_transform_and_lower(
        program,
        partitioner=[XnnpackPartitioner()],
        compile_config=EdgeCompileConfig(_check_ir_validity=False),
        constant_methods=metadata,
    )
    executorch_program = edge.to_executorch()
    out = Path(request["out"])
    with open(out, "wb") as f:
        executorch_program.write_to_file(f)
    seconds = time.monotonic() - started
    print(f"sdkgen: wrote {out.name} ({out.stat().st_size} bytes) in {seconds:.1f} s", flush=True)
    return {"seconds": seconds}


def _child(request: dict) -> int:
    import resource

    _export(request)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"sdkgen: export peak RSS {peak} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
