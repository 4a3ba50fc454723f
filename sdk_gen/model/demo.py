"""The built-in demo model: a tiny random-weight Phi-2-architecture checkpoint, made on the spot.

It exercises every real toolchain the way a fine-tune would (same architecture class, a
byte-level BPE tokenizer with special tokens, a chat template, safetensors weights) while
converting in seconds. Its weights are random, so its text is gibberish: it proves the
pipeline, not the prose. Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.output import atomic_output_dir
from sdk_gen.quiet import quiet_ml_libraries

END_OF_TEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)

# ChatML, the format many small fine-tunes use. The assistant turn ends with <|im_end|>, which
# the converters pick up as a stop token alongside <|endoftext|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class DemoSize:
    """Presets: `tiny` is the default demo and test model; the larger ones feed bench/."""

    hidden_size: int
    num_layers: int
    num_heads: int


# hidden_size stays a multiple of 256 so llama.cpp's K-quants (256-wide super-blocks) apply.
DEMO_SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize(hidden_size=256, num_layers=2, num_heads=4),  # ~1.8M parameters
    "small": DemoSize(hidden_size=512, num_layers=8, num_heads=8),  # ~26M
    "medium": DemoSize(hidden_size=1024, num_layers=16, num_heads=16),  # ~202M
}

VOCAB_TARGET = 512

# The text the demo tokenizer learns its merges from. Any text works; this one talks about the
# job the demo stands in for, so the merges are ordinary English pieces.
_CORPUS = """
sdkgen turns a fine-tuned language model into a mobile SDK. A developer points it at a Hugging Face
checkpoint and a device profile, and gets the model converted and quantized for an on-device runtime,
a memory budget that says whether it fits the phone, and a project that builds.
The budget adds the weights, the key and value cache for the context, the working memory of one prefill
step and the runtime's own overhead, then compares the total with what one app may use on that device.
When the model does not fit, the tool refuses and names the cheapest change that would fit: a lower
quantization, a shorter context, or the memory entitlement on iOS.
Phones kill apps that use too much memory. Android's low memory killer and iOS jetsam give no warning
that a developer can rely on, so the generated code checks the available memory before it loads.
The quick brown fox jumps over the lazy dog. Hello world, this is a tiny model for testing.
What is the capital of France? The capital of France is Paris. How many legs does a spider have?
A spider has eight legs. Write a short poem about the sea. The sea is wide and the waves are slow.
Translate good morning into Spanish: buenos dias. Summarize the text in one sentence, please.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Punctuation: commas, periods. Questions? Answers!
user assistant system message content role conversation reply token prompt response stream cancel
"""


def write_demo_model(dest: Path, size: str = "tiny", seed: int = 0, force: bool = False) -> Path:
    """Write the demo checkpoint to ``dest`` (atomically) and return the folder."""
    preset = DEMO_SIZES[size]
    with atomic_output_dir(dest, force) as staging:
        tokenizer = _train_tokenizer()
        _save_tokenizer(tokenizer, staging)
        _save_model(staging, preset, vocab_size=tokenizer.get_vocab_size(), seed=seed)
        (staging / "README.md").write_text(_model_card(size, preset), encoding="utf-8")
    return Path(dest)


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    tokenizer.train_from_iterator(lines * 4, trainer)
    return tokenizer


def _save_tokenizer(tokenizer, folder: Path) -> None:
    quiet_ml_libraries()
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        additional_special_tokens=[IM_START, IM_END],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 2048
    fast.save_pretrained(folder)


def _save_model(folder: Path, preset: DemoSize, vocab_size: int, seed: int) -> None:
    quiet_ml_libraries()
    import torch
    from transformers import GenerationConfig, PhiConfig, PhiForCausalLM

    end_of_text_id = 0  # the first special token the trainer adds
    im_end_id = SPECIAL_TOKENS.index(IM_END)
    config = PhiConfig(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        intermediate_size=4 * preset.hidden_size,
        num_hidden_layers=preset.num_layers,
        num_attention_heads=preset.num_heads,
        num_key_value_heads=preset.num_heads,
        # Phi-2 rotates 40% of an 80-wide head (32 dims); half of a 64-wide head keeps it even.
        partial_rotary_factor=0.5,
        max_position_embeddings=2048,
        # A narrower init than transformers' 0.02 default keeps quantized greedy runs stable.
        initializer_range=0.05,
        bos_token_id=end_of_text_id,
        eos_token_id=end_of_text_id,
        pad_token_id=end_of_text_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = PhiForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=end_of_text_id,
        eos_token_id=[end_of_text_id, im_end_id],
        pad_token_id=end_of_text_id,
        do_sample=False,
    )
    model.save_pretrained(folder, safe_serialization=True)
    # Record provenance so `inspect` and reports can tell the demo apart from a real model.
    marker = {"sdkgen_demo_model": True, "seed": seed, "hidden_size": preset.hidden_size, "layers": preset.num_layers}
    (folder / "sdkgen-demo.json").write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _model_card(size: str, preset: DemoSize) -> str:
    return (
        f"# sdkgen demo model ({size})\n\n"
        "A random-weight `PhiForCausalLM` (Phi-2's architecture) with a byte-level BPE tokenizer trained\n"
        "locally and a ChatML chat template. Written by `sdkgen demo-model`; nothing was downloaded.\n"
        "Its output is gibberish by design: it exists to exercise conversion, verification and the\n"
        f"generated projects quickly.\n\nhidden_size={preset.hidden_size}, layers={preset.num_layers}, "
        f"heads={preset.num_heads}\n"
    )
