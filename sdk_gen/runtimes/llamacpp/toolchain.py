"""Where llama.cpp's converter and headers come from: the llama-cpp-python sdist.

The sdist on PyPI vendors llama.cpp itself (convert_hf_to_gguf.py, gguf-py, include/). Setup
downloads it once (scripts/setup.sh); sdkgen unpacks it into its cache on first use. The
generated Android and iOS projects fetch the very same file by URL and SHA-256, so the phone's
llama.cpp is the one that converted and verified the model.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from sdk_gen.errors import ToolMissing
from sdk_gen.toolchain_cache import toolchain_root

VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{VERSION}.tar.gz"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/"
    + SDIST_NAME
)
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# The Android NDK the generated project builds llama.cpp with (r28c: 16 KB page alignment by default).
ANDROID_NDK_VERSION = "28.2.13676358"
# Inside the sdist: where llama.cpp's own tree sits.
LLAMA_CPP_SUBDIR = f"llama_cpp_python-{VERSION}/vendor/llama.cpp"


def sdist_path() -> Path:
    explicit = os.environ.get("SDKGEN_LLAMACPP_SDIST")
    return Path(explicit) if explicit else toolchain_root() / "sdists" / SDIST_NAME


def llama_cpp_dir() -> Path:
    """The unpacked llama.cpp tree (converter, gguf-py, headers), unpacking it on first use."""
    target = toolchain_root() / "toolchains" / f"llama.cpp-{VERSION}"
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    sdist = sdist_path()
    if not sdist.is_file():
        raise ToolMissing(
            f"llama.cpp's converter comes from the llama-cpp-python {VERSION} sdist, which is not at {sdist}; "
            f"run scripts/setup.sh (or pip download --no-deps --no-binary :all: -d {sdist.parent} llama-cpp-python=={VERSION})"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=target.parent))
    try:
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(LLAMA_CPP_SUBDIR + "/")]
            archive.extractall(staging, members=members, filter="data")
        os.rename(staging / LLAMA_CPP_SUBDIR, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def known_pre_tokenizers() -> list[str]:
    """Pre-tokenizer names this llama.cpp can load, read from its own vocabulary loader.

    llama.cpp refuses a GGUF whose `tokenizer.ggml.pre` it does not list (llama-vocab.cpp), so a
    name outside this list would convert and then fail to load on the phone.
    """
    source = (llama_cpp_dir() / "src" / "llama-vocab.cpp").read_text(encoding="utf-8")
    return sorted(set(re.findall(r'tokenizer_pre\s*==\s*"([^"]+)"', source)))


def include_dirs() -> list[Path]:
    root = llama_cpp_dir()
    return [root / "include", root / "ggml" / "include"]


def library_dir() -> Path:
    """The folder holding libllama.so from the installed llama-cpp-python wheel."""
    import llama_cpp

    return Path(llama_cpp.__file__).parent / "lib"
