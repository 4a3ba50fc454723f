"""Turn what the user typed after --model into a local folder.

A local folder wins. Otherwise a known short name (``phi-2``) or a Hugging Face repo id
(``microsoft/phi-2``) is looked up in the local Hugging Face cache only: sdkgen never downloads
weights itself, it says which repo is missing and the command that fetches it.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from sdk_gen.errors import BadInput

# Short names people use for popular small models, and the Hugging Face repos they mean.
KNOWN_MODELS: dict[str, str] = {
    "phi-2": "microsoft/phi-2",
    "phi-3-mini-4k-instruct": "microsoft/Phi-3-mini-4k-instruct",
    "phi-3.5-mini-instruct": "microsoft/Phi-3.5-mini-instruct",
    "gemma-2b-it": "google/gemma-2b-it",
    "gemma-2-2b-it": "google/gemma-2-2b-it",
    "gemma-3-1b-it": "google/gemma-3-1b-it",
    "qwen2.5-0.5b-instruct": "Qwen/Qwen2.5-0.5B-Instruct",
    "qwen2.5-1.5b-instruct": "Qwen/Qwen2.5-1.5B-Instruct",
    "qwen3-0.6b": "Qwen/Qwen3-0.6B",
    "qwen3-1.7b": "Qwen/Qwen3-1.7B",
    "llama-3.2-1b-instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "llama-3.2-3b-instruct": "meta-llama/Llama-3.2-3B-Instruct",
    "tinyllama-1.1b-chat": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "mistral-7b-instruct": "mistralai/Mistral-7B-Instruct-v0.3",
    "smollm2-360m-instruct": "HuggingFaceTB/SmolLM2-360M-Instruct",
}

# fullmatch, not match + "$": "$" would accept a trailing newline.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def resolve_model(model: str) -> Path:
    """Return the folder for ``model``: a path, a known name, or a cached Hugging Face repo id."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BadInput(f"--model {model} is a file; pass the Hugging Face model folder that holds config.json")
        return path.resolve()

    repo_id = KNOWN_MODELS.get(model.lower())
    if repo_id is None and _REPO_ID.fullmatch(model) and not model.startswith((".", "/", "~")):
        repo_id = model
    if repo_id is None:
        close = difflib.get_close_matches(model.lower(), KNOWN_MODELS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else f"; known names: {', '.join(sorted(KNOWN_MODELS))}"
        raise BadInput(f"model folder {model} does not exist and is not a known model name{hint}")
    return _from_hf_cache(model, repo_id)


def _from_hf_cache(model: str, repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import LocalEntryNotFoundError

    # Read HF_HUB_CACHE at call time (huggingface_hub reads it once, at import).
    cache_dir = os.environ.get("HF_HUB_CACHE") or HF_HUB_CACHE
    try:
        folder = snapshot_download(repo_id, local_files_only=True, cache_dir=cache_dir)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        named = f"{model} is the Hugging Face repo {repo_id}" if model != repo_id else f"Hugging Face repo {repo_id}"
        raise BadInput(
            f"{named}, which is not in the local Hugging Face cache ({cache_dir}); fetch it with "
            f"`hf download {repo_id}` (gated repos need `hf auth login` first), or pass a local folder"
        ) from None
    return Path(folder)
