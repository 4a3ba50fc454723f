"""Drive llama.cpp's own converter and quantizer in a child process.

    f32 / f16 / q8_0: convert_hf_to_gguf.py writes the GGUF directly.
    q4_0 / q4_k_m:    convert_hf_to_gguf.py writes an intermediate GGUF in the checkpoint's own
                      float type (bf16 for a bf16 checkpoint, f16 for f16, else f32: each exact for
                      its source, and each one llama_model_quantize reads), which llama_model_quantize
                      quantizes and which is then deleted. An 8B bf16 checkpoint's intermediate is
                      16 GB, not the 32 GB an f32 one would take.

The converter identifies a byte-level BPE tokenizer's pre-tokenizer by hashing how it splits a
fixed text; a tokenizer trained for a fine-tune is unknown to that table. `--pre-tokenizer NAME`
tells it instead: this child wraps the converter's own lookup (TextModel.get_vocab_base_pre) to
return the given name, and leaves the converter's code untouched.
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path

# Formats convert_hf_to_gguf.py writes itself, and those llama_model_quantize makes from f32.
CONVERTER_TYPES = {"f32": "f32", "f16": "f16", "q8_0": "q8_0"}
QUANTIZER_TYPES = {"q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}
# The quantizer's input: the converter's output type holding the checkpoint's values exactly
# (ModelSpec.dtype -> --outtype); any other dtype goes through f32.
EXACT_INTERMEDIATE_TYPES = {"bfloat16": "bf16", "float16": "f16"}


def intermediate_type(checkpoint_dtype: str) -> str:
    return EXACT_INTERMEDIATE_TYPES.get(checkpoint_dtype, "f32")

UNKNOWN_PRE_TOKENIZER = "BPE pre-tokenizer was not recognized"


def _run_converter(llama_dir: Path, model: str, out: Path, outtype: str, pre_tokenizer: str | None) -> None:
    sys.path.insert(0, str(llama_dir))
    sys.path.insert(1, str(llama_dir / "gguf-py"))
    import conversion.base as base  # llama.cpp's converter package, from the sdist

    lookup = base.TextModel.get_vocab_base_pre

    def named_or_looked_up(self, tokenizer):
        return pre_tokenizer if pre_tokenizer else lookup(self, tokenizer)

    base.TextModel.get_vocab_base_pre = named_or_looked_up
    import convert_hf_to_gguf

    sys.argv = ["convert_hf_to_gguf.py", model, "--outfile", str(out), "--outtype", outtype]
    convert_hf_to_gguf.main()


def _quantize(source: Path, out: Path, ftype_name: str, threads: int) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.nthread = threads
    code = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params))
    if code != 0:
        raise RuntimeError(f"llama_model_quantize returned {code}")


def _child(request: dict) -> int:
    from sdk_gen.errors import BadInput
    from sdk_gen.subprocess_log import report_bad_input

    llama_dir = Path(request["llama_dir"])
    out = Path(request["out"])
    quant = request["quant"]
    try:
        if quant in CONVERTER_TYPES:
            _run_converter(llama_dir, request["model"], out, CONVERTER_TYPES[quant], request["pre_tokenizer"])
        else:
            outtype = intermediate_type(request["checkpoint_dtype"])
            source = out.with_suffix(f".{outtype}.gguf")
            _run_converter(llama_dir, request["model"], source, outtype, request["pre_tokenizer"])
            _quantize(source, out, QUANTIZER_TYPES[quant], request["threads"])
            source.unlink()
    except NotImplementedError as exc:
        if UNKNOWN_PRE_TOKENIZER in str(exc):
            return report_bad_input(BadInput(
                "llama.cpp's converter does not recognise this tokenizer's pre-tokenizer; pass --pre-tokenizer NAME "
                "with the llama.cpp name of the split rule it was trained with (e.g. gpt-2, llama-bpe, qwen2, "
                "deepseek-llm); sdkgen checks token ids against the Hugging Face tokenizer afterwards"
            ))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
