"""MediaPipe `.task` bundles: a litert-torch `.tflite` plus a SentencePiece tokenizer.

MediaPipe's LlmInference (Android, iOS, Web) reads `.task` files. Its tokenizer must be
SentencePiece: models that ship one (Llama 2, Gemma, Mistral) use it as is; byte-level BPE
tokenizers (GPT-2 style: Phi, Qwen, Llama 3) are converted by MediaPipe's own converter and
bundled with GPT-2's bytes-to-unicode mapping switched on. Either way the converted tokenizer
must give the same ids as the Hugging Face one, or the bundle is refused.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sdk_gen.chat import chat_format_of
from sdk_gen.errors import BadInput
from sdk_gen.model.inspect import tokenizer_kind

# Text the tokenizer parity check encodes with both tokenizers (besides the verification prompts).
PARITY_TEXTS = (
    "Hello, world! How are you today?",
    "  leading spaces, tabs\tand\nnew lines",
    "Numbers 0123456789 and symbols #$%&*()[]{}<>=+-_/\\|~^`'\"",
    "Unicode: café, naïve, Straße, 東京, emoji 🙂",
    "The model said: \"I don't know.\" Then it stopped.",
)

BUNDLE_TFLITE = "TF_LITE_PREFILL_DECODE"
BUNDLE_TOKENIZER = "TOKENIZER_MODEL"
BUNDLE_METADATA = "METADATA"


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (byte-level BPE vocabularies use it)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


@dataclass(frozen=True)
class SentencePieceTokenizer:
    path: Path
    byte_mapping: bool  # encode text through bytes_to_unicode() first, as MediaPipe does when enabled

    def processor(self):
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor()
        processor.Load(str(self.path))
        return processor

    def encode(self, text: str, processor=None) -> list[int]:
        processor = processor or self.processor()
        if self.byte_mapping:
            table = bytes_to_unicode()
            text = "".join(table[b] for b in text.encode("utf-8"))
        return list(processor.EncodeAsIds(text))


def sentencepiece_for(model_dir: Path, workdir: Path) -> SentencePieceTokenizer:
    """The SentencePiece tokenizer a `.task` of this model carries, converted if need be."""
    if (model_dir / "tokenizer.model").is_file():
        return SentencePieceTokenizer(model_dir / "tokenizer.model", byte_mapping=False)
    kind = tokenizer_kind(model_dir)
    if kind not in ("byte-level-bpe", "bpe"):
        raise BadInput(
            f"{model_dir} has a {kind} tokenizer, which cannot be converted to SentencePiece for a MediaPipe .task; "
            "use --format litertlm (LiteRT-LM bundles the Hugging Face tokenizer as is)"
        )
    from mediapipe.tasks.python.core import mediapipe_c_bindings
    from mediapipe.tasks.python.genai.converter import llm_converter

    out = workdir / "sentencepiece"
    out.mkdir(parents=True, exist_ok=True)
    library = mediapipe_c_bindings.load_raw_library(llm_converter._CTYPES_SIGNATURES)
    with llm_converter._LlmConverter(library) as converter:
        path = Path(converter.convert_bpe_vocab(str(model_dir), str(out)))
    return SentencePieceTokenizer(path, byte_mapping=(kind == "byte-level-bpe"))


def mark_special_tokens(sp: SentencePieceTokenizer, hf_tokenizer) -> None:
    """Make the model's special tokens (``<|im_start|>``...) atomic pieces of the SentencePiece model.

    MediaPipe's BPE conversion keeps them as ordinary pieces, which SentencePiece never matches in
    raw text, so a chat prompt would be split into characters on the phone. USER_DEFINED pieces
    are matched verbatim; ASCII specials survive the byte mapping unchanged, so this works there too.
    """
    from sentencepiece import sentencepiece_model_pb2 as spm_proto

    model = spm_proto.ModelProto()
    model.ParseFromString(sp.path.read_bytes())
    normal = spm_proto.ModelProto.SentencePiece.NORMAL
    changed = False
    for token_id, token in hf_tokenizer.added_tokens_decoder.items():
        if token.special and token_id < len(model.pieces):
            piece = model.pieces[token_id]
            if piece.piece == token.content and piece.type == normal:
                piece.type = spm_proto.ModelProto.SentencePiece.USER_DEFINED
                changed = True
    if changed:
        sp.path.write_bytes(model.SerializeToString())


def reply_stop_ids(model_dir: Path, hf_tokenizer) -> list[int]:
    """The ids that end a reply: generation_config's eos ids, else the tokenizer's eos."""
    import json

    ids: list[int] = []
    generation = model_dir / "generation_config.json"
    if generation.is_file():
        eos = json.loads(generation.read_text()).get("eos_token_id")
        ids = [eos] if isinstance(eos, int) else list(eos or [])
    if not ids and hf_tokenizer.eos_token_id is not None:
        ids = [hf_tokenizer.eos_token_id]
    return ids


def build_task(model_dir: Path, litertlm: Path, workdir: Path, out_path: Path, stop_ids: Sequence[int]) -> Path:
    """Turn a litert-torch `.litertlm` into a MediaPipe `.task`, refusing an unfaithful tokenizer."""
    from transformers import AutoTokenizer

    from sdk_gen.runtimes.litert.host import unpack_litertlm
    from sdk_gen.verify import PLAIN_PROMPTS, TorchReference

    tflite = unpack_litertlm(litertlm, workdir / "unpacked")
    hf_tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sp = sentencepiece_for(model_dir, workdir)
    if sp.path.parent == workdir / "sentencepiece":
        mark_special_tokens(sp, hf_tokenizer)
    chat = TorchReference.chat_prompts(hf_tokenizer)
    mismatch = first_parity_mismatch(hf_tokenizer, sp, (*PLAIN_PROMPTS, *chat, *PARITY_TEXTS))
    if mismatch is not None:
        raise BadInput(
            f"the model's tokenizer does not convert to SentencePiece faithfully (ids differ for {mismatch[:40]!r}); "
            "use --format litertlm, which carries the Hugging Face tokenizer as is"
        )
    return write_task(tflite, sp, hf_tokenizer, stop_ids, out_path)


def first_parity_mismatch(hf_tokenizer, sp: SentencePieceTokenizer, texts: Sequence[str]) -> str | None:
    """The first text the two tokenizers split differently, or None when they agree on all."""
    processor = sp.processor()
    for text in texts:
        if hf_tokenizer(text, add_special_tokens=False).input_ids != sp.encode(text, processor):
            return text
    return None


def stop_token_strings(hf_tokenizer, stop_ids: Sequence[int]) -> list[str]:
    names = []
    for token_id in stop_ids:
        name = hf_tokenizer.convert_ids_to_tokens(int(token_id))
        if name and name not in names:
            names.append(name)
    return names


def write_task(
    tflite: Path,
    sp: SentencePieceTokenizer,
    hf_tokenizer,
    stop_ids: Sequence[int],
    out_path: Path,
) -> Path:
    from mediapipe.tasks.python.genai.bundler import llm_bundler

    stops = stop_token_strings(hf_tokenizer, stop_ids) or [hf_tokenizer.eos_token]
    start = hf_tokenizer.bos_token or hf_tokenizer.eos_token or stops[0]
    fmt = chat_format_of(hf_tokenizer)
    config = llm_bundler.BundleConfig(
        tflite_model=str(tflite),
        tokenizer_model=str(sp.path),
        start_token=start,
        stop_tokens=stops,
        output_filename=str(out_path),
        enable_bytes_to_unicode_mapping=sp.byte_mapping,
        prompt_prefix_user=fmt.user_prefix or None,
        prompt_suffix_user=fmt.user_suffix or None,
        prompt_prefix_model=fmt.assistant_prefix or None,
    )
    llm_bundler.create_bundle(config)
    return out_path


def read_task(task_path: Path, into: Path) -> tuple[Path, Path]:
    """Extract a `.task`'s tflite and tokenizer into ``into``; refuse a bundle missing either."""
    with zipfile.ZipFile(task_path) as bundle:
        names = set(bundle.namelist())
        missing = {BUNDLE_TFLITE, BUNDLE_TOKENIZER, BUNDLE_METADATA} - names
        if missing:
            raise BadInput(f"{task_path} is not a complete MediaPipe .task (missing {', '.join(sorted(missing))})")
        tflite = into / "model.tflite"
        tflite.write_bytes(bundle.read(BUNDLE_TFLITE))
        tokenizer = into / "tokenizer.model"
        tokenizer.write_bytes(bundle.read(BUNDLE_TOKENIZER))
    return tflite, tokenizer
