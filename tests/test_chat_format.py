"""The chat turns sdkgen splits from a model's template, held to the template itself over two
turns: what an engine that keeps the conversation in its KV cache sends must add up to what the
template renders for the whole conversation."""

from __future__ import annotations

import pytest

from sdk_gen.chat import chat_format_of

# Shapes of real templates' first-message-only text: the BOS token (Llama 3, Gemma) and a default
# system block (Qwen2.5). The demo's ChatML writes neither.
TEMPLATES = {
    "llama3-bos": (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}<|im_end|>\n\n{{ m.content }}<|endoftext|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant<|im_end|>\n\n{% endif %}"
    ),
    "qwen25-default-system": (
        "{% if messages[0].role != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "gemma-bos": (
        "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n"
        "{{ m.content }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    "demo": None,  # the demo model's own template
}


@pytest.fixture(scope="module")
def tokenizer(demo_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_model)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_two_turns_sent_piece_by_piece_are_the_template_s_conversation(tokenizer, name):
    import copy

    tok = copy.deepcopy(tokenizer)
    if TEMPLATES[name] is not None:
        tok.chat_template = TEMPLATES[name]
        tok.bos_token = "<|endoftext|>"
    fmt = chat_format_of(tok)
    assert fmt.from_template
    sent = fmt.format_user_turn("first question") + "a reply" + fmt.format_next_user_turn("second question")
    conversation = [{"role": "user", "content": "first question"}, {"role": "assistant", "content": "a reply"},
                    {"role": "user", "content": "second question"}]
    assert sent == tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)


def test_text_written_once_is_not_repeated(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = TEMPLATES["qwen25-default-system"]
    fmt = chat_format_of(tok)
    assert "You are a helpful assistant." in fmt.user_prefix
    assert "You are a helpful assistant." not in fmt.format_next_user_turn("again")
    assert fmt.later_user_prefix == "<|im_start|>user\n"
