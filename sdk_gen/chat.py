"""A model's chat turn format, read from its Hugging Face chat template.

Some runtimes take raw text (MediaPipe's prompt pieces, llama.cpp), so sdkgen renders the
template around a sentinel message once and splits it into the text before and after a user
message and the text that opens the assistant's reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_SENTINEL = "\u2063SDKGEN\u2063"


@dataclass(frozen=True)
class ChatFormat:
    user_prefix: str = ""
    user_suffix: str = ""
    assistant_prefix: str = ""
    from_template: bool = False

    def format_user_turn(self, message: str) -> str:
        return self.user_prefix + message + self.user_suffix + self.assistant_prefix


def chat_format_of(tokenizer) -> ChatFormat:
    """Split ``tokenizer``'s chat template; an empty (raw) format when there is none or it is unusual."""
    if not getattr(tokenizer, "chat_template", None):
        return ChatFormat()
    try:
        turn = tokenizer.apply_chat_template([{"role": "user", "content": _SENTINEL}], tokenize=False)
        with_reply = tokenizer.apply_chat_template(
            [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
        )
    except Exception:  # templates that demand a system turn or tools: leave prompts raw
        return ChatFormat()
    if turn.count(_SENTINEL) != 1 or not with_reply.startswith(turn):
        return ChatFormat()
    prefix, suffix = turn.split(_SENTINEL)
    return ChatFormat(prefix, suffix, with_reply[len(turn):], from_template=True)


def chat_format_for_model(model_dir: Path) -> ChatFormat:
    from sdk_gen.quiet import quiet_ml_libraries

    quiet_ml_libraries()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError):
        return ChatFormat()
    return chat_format_of(tokenizer)
