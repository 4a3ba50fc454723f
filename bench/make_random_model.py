"""Write a random-weight checkpoint of a real model's published shape, one shard at a time.

    .venv/bin/python bench/make_random_model.py /tmp/sdkgen-8b/llama3-8b-random          # Llama 3 8B
    .venv/bin/python bench/make_random_model.py OUT --shape llama3-8b --shard-gib 2
    .venv/bin/python bench/make_random_model.py /tmp/sdkgen-phi2/phi2-random --shape phi2   # Phi-2

Shapes: Llama 3 8B's published config (hidden 4096, 32 layers, 32 heads, 8 KV heads, intermediate
14336, vocabulary 128256, rope theta 500000, bfloat16) and Phi-2's (PhiForCausalLM: hidden 2560,
32 layers, 32 heads, intermediate 10240, vocabulary 51200, partial rotary 0.4, LayerNorm and
biases everywhere, float16). The weights are normal random numbers (std = the config's
initializer_range; norms 1, biases 0) written in the published dtype as safetensors shards with an
index, each shard generated and written before the next begins, so the process holds one shard (a
few GiB), never the model. The tokenizer is the demo model's, trained here in under a second
(sdk_gen.model.demo): its 512 tokens address the first rows of the embedding, and llama.cpp's
converter pads its vocabulary to the config's with unused tokens. Its split rule is GPT-2's:
convert with `--pre-tokenizer gpt-2`. Nothing is downloaded; never commit the output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.units import GIB  # noqa: E402


@dataclass(frozen=True)
class PublishedShape:
    """A model's published config.json fields (the ones that decide its tensors)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    rope_theta: float
    max_position_embeddings: int
    norm_eps: float
    initializer_range: float
    architecture: str = "llama"  # "llama" (LlamaForCausalLM) or "phi" (PhiForCausalLM)
    dtype: str = "bfloat16"  # the published checkpoint's
    partial_rotary_factor: float = 1.0


SHAPES = {
    # meta-llama/Meta-Llama-3-8B config.json
    "llama3-8b": PublishedShape(
        hidden_size=4096, num_layers=32, num_heads=32, num_kv_heads=8, intermediate_size=14336,
        vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192, norm_eps=1e-5,
        initializer_range=0.02,
    ),
    # microsoft/phi-2 config.json (2.78B parameters)
    "phi2": PublishedShape(
        hidden_size=2560, num_layers=32, num_heads=32, num_kv_heads=32, intermediate_size=10240,
        vocab_size=51200, rope_theta=10000.0, max_position_embeddings=2048, norm_eps=1e-5,
        initializer_range=0.02, architecture="phi", dtype="float16", partial_rotary_factor=0.4,
    ),
}


def tensor_shapes(shape: PublishedShape) -> list[tuple[str, tuple[int, ...]]]:
    """Every tensor of the checkpoint, in the order the layers run."""
    return _phi_tensors(shape) if shape.architecture == "phi" else _llama_tensors(shape)


def _phi_tensors(shape: PublishedShape) -> list[tuple[str, tuple[int, ...]]]:
    """PhiForCausalLM: LayerNorm (weight and bias), biased projections, a parallel MLP, a biased head."""
    h, i = shape.hidden_size, shape.intermediate_size
    names = [("model.embed_tokens.weight", (shape.vocab_size, h))]
    for layer in range(shape.num_layers):
        p = f"model.layers.{layer}."
        names += [(p + "input_layernorm.weight", (h,)), (p + "input_layernorm.bias", (h,))]
        for proj in ("q_proj", "k_proj", "v_proj", "dense"):
            names += [(p + f"self_attn.{proj}.weight", (h, h)), (p + f"self_attn.{proj}.bias", (h,))]
        names += [(p + "mlp.fc1.weight", (i, h)), (p + "mlp.fc1.bias", (i,)),
                  (p + "mlp.fc2.weight", (h, i)), (p + "mlp.fc2.bias", (h,))]
    names += [("model.final_layernorm.weight", (h,)), ("model.final_layernorm.bias", (h,)),
              ("lm_head.weight", (shape.vocab_size, h)), ("lm_head.bias", (shape.vocab_size,))]
    return names


def _llama_tensors(shape: PublishedShape) -> list[tuple[str, tuple[int, ...]]]:
    head_dim = shape.hidden_size // shape.num_heads
    kv = shape.num_kv_heads * head_dim
    h, i = shape.hidden_size, shape.intermediate_size
    names = [("model.embed_tokens.weight", (shape.vocab_size, h))]
    for layer in range(shape.num_layers):
        p = f"model.layers.{layer}."
        names += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (h, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
            (p + "self_attn.o_proj.weight", (h, h)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (i, h)),
            (p + "mlp.up_proj.weight", (i, h)),
            (p + "mlp.down_proj.weight", (h, i)),
        ]
    names += [("model.norm.weight", (h,)), ("lm_head.weight", (shape.vocab_size, h))]
    return names


def write_config(shape: PublishedShape, folder: Path, vocab_ids: dict[str, int]) -> None:
    from transformers import GenerationConfig, LlamaConfig, PhiConfig

    common = dict(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
        max_position_embeddings=shape.max_position_embeddings, initializer_range=shape.initializer_range,
        tie_word_embeddings=False, bos_token_id=vocab_ids["bos"], eos_token_id=vocab_ids["eos"], dtype=shape.dtype,
    )
    if shape.architecture == "phi":
        config = PhiConfig(**common, layer_norm_eps=shape.norm_eps, rope_parameters={
            "rope_type": "default", "rope_theta": shape.rope_theta, "partial_rotary_factor": shape.partial_rotary_factor})
        config.architectures = ["PhiForCausalLM"]
    else:
        config = LlamaConfig(**common, rms_norm_eps=shape.norm_eps,
                             rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta})
        config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(folder)
    GenerationConfig(bos_token_id=vocab_ids["bos"], eos_token_id=[vocab_ids["eos"], vocab_ids["im_end"]], do_sample=False).save_pretrained(folder)


def write_shards(shape: PublishedShape, folder: Path, shard_bytes: int, seed: int) -> int:
    """Generate and write the tensors shard by shard; return the total bytes of weights."""
    import torch
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    dtype = getattr(torch, shape.dtype)
    plan: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, dims in tensor_shapes(shape):
        nbytes = dtype.itemsize * _numel(dims)
        if plan[-1] and size + nbytes > shard_bytes:
            plan.append([])
            size = 0
        plan[-1].append((name, dims))
        size += nbytes
    weight_map, total = {}, 0
    for index, shard in enumerate(plan, start=1):
        file_name = f"model-{index:05d}-of-{len(plan):05d}.safetensors"
        tensors = {}
        for name, dims in shard:
            if name.endswith(".bias"):
                tensors[name] = torch.zeros(dims, dtype=dtype)  # as transformers initialises them
            elif len(dims) == 1:
                tensors[name] = torch.ones(dims, dtype=dtype)  # norm weights start at 1
            else:
                values = torch.empty(dims, dtype=torch.float32)
                values.normal_(0.0, shape.initializer_range, generator=generator)
                tensors[name] = values.to(dtype)
                del values
            weight_map[name] = file_name
            total += dtype.itemsize * _numel(dims)
        save_file(tensors, str(folder / file_name), metadata={"format": "pt"})
        del tensors
        print(f"  wrote {file_name} ({len(shard)} tensors)", flush=True)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n"
    )
    return total


def _numel(dims: tuple[int, ...]) -> int:
    count = 1
    for d in dims:
        count *= d
    return count


def write_tokenizer(folder: Path) -> dict[str, int]:
    """The demo model's locally trained byte-level BPE and ChatML template; its special ids."""
    from sdk_gen.model.demo import END_OF_TEXT, IM_END, SPECIAL_TOKENS, _save_tokenizer, _train_tokenizer

    _save_tokenizer(_train_tokenizer(), folder)
    return {"bos": SPECIAL_TOKENS.index(END_OF_TEXT), "eos": SPECIAL_TOKENS.index(END_OF_TEXT), "im_end": SPECIAL_TOKENS.index(IM_END)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b")
    parser.add_argument("--shard-gib", type=float, default=2.0, help="largest shard (the memory this script holds)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} exists and is not empty")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    shape = SHAPES[args.shape]
    ids = write_tokenizer(args.out)
    write_config(shape, args.out, ids)
    total = write_shards(shape, args.out, int(args.shard_gib * GIB), args.seed)
    (args.out / "README.md").write_text(
        f"# random {args.shape}\n\nRandom {shape.dtype} weights with {args.shape}'s published config, written by "
        "sdkgen's bench/make_random_model.py. Gibberish by design; for memory and time measurements only.\n"
    )
    print(f"{args.shape}: {total / GIB:.2f} GiB of weights in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
