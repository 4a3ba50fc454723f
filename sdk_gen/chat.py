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
    # What closes an assistant reply before the next user turn (ChatML: "<|im_end|>\n"). The
    # model ends its reply with an end-of-generation token the runtime does not decode, so an
    # engine that keeps the conversation in its KV cache adds this before the next turn.
    assistant_suffix: str = ""
    # What opens a user message after the first one (None: user_prefix). A template writes some
    # text only once, before the first message: the BOS token (Llama 3, Gemma, Mistral) or a
    # default system block (Qwen2.5, Llama 3.1's date header); repeating it mid-conversation gives
    # the model tokens it was never trained to see there.
    next_user_prefix: str | None = None

    def format_user_turn(self, message: str) -> str:
        return self.user_prefix + message + self.user_suffix + self.assistant_prefix

    @property
    def later_user_prefix(self) -> str:
        """What opens every user message after the first."""
        return self.user_prefix if self.next_user_prefix is None else self.next_user_prefix

    def format_next_user_turn(self, message: str) -> str:
        """A user turn that follows a reply already in the conversation."""
        return self.assistant_suffix + self.later_user_prefix + message + self.user_suffix + self.assistant_prefix


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
    assistant_prefix = with_reply[len(turn):]
    closer = _assistant_suffix(tokenizer)
    return ChatFormat(prefix, suffix, assistant_prefix, from_template=True, assistant_suffix=closer,
                      next_user_prefix=_next_user_prefix(tokenizer, closer))


def _assistant_suffix(tokenizer) -> str:
    """The text a template puts after an assistant reply (what closes the turn)."""
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # templates that refuse an assistant turn: replies run on without a closer
        return ""
    if rendered.count(_SENTINEL) != 1:
        return ""
    return rendered.split(_SENTINEL, 1)[1]


def _next_user_prefix(tokenizer, closer: str) -> str | None:
    """The text between a reply's closer and the next user message, from the template rendering a
    second user turn (None: it cannot, or the closer is not where expected; user_prefix then)."""
    reply, second = _SENTINEL + "1", _SENTINEL + "2"
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": reply}, {"role": "user", "content": second}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # templates that refuse a second user turn: keep the first turn's opener
        return None
    if rendered.count(reply) != 1 or rendered.count(second) != 1:
        return None
    between = rendered.split(reply, 1)[1].split(second, 1)[0]
    return between[len(closer):] if between.startswith(closer) else None


def chat_format_for_model(model_dir: Path, tokenizer_dir: Path | None = None) -> ChatFormat:
    """The chat format of ``model_dir``'s tokenizer, or of ``tokenizer_dir``'s when the tokenizer
    files live elsewhere (a LoRA adapter's own): the model's config then names the tokenizer class
    where the tokenizer's own config does not, as it would in the merged checkpoint."""
    from sdk_gen.quiet import quiet_ml_libraries

    quiet_ml_libraries()
    from transformers import AutoConfig, AutoTokenizer

    try:
        if tokenizer_dir is None or tokenizer_dir == model_dir:
            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        else:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, config=AutoConfig.from_pretrained(model_dir))
    except (OSError, ValueError):
        return ChatFormat()
    return chat_format_of(tokenizer)
