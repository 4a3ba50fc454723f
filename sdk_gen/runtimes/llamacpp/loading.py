"""How llama.cpp loads a GGUF of each format, the same on the host check and in the apps.

Its own module because the runtime (project settings for the templates) and the host check both
need it, and the check must not import the runtime package that imports it.
"""

from __future__ import annotations

# Formats llama.cpp's CPU backend repacks at load into its own interleaved buffer (CPU_REPACK:
# q4_0_8x8 / q4_K_8x8 on x86, the 4x4/4x8 layouts on arm64). Mapping the file as well would keep
# both copies resident (measured: 1.5-1.7x the weights in RSS), so these load without mmap and hold
# the weights once; f16 and q8_0 are used in place, so mapping them costs nothing extra and lets
# the kernel page them.
_REPACKED_ON_CPU = frozenset({"q4_0", "q4_k_m"})


def use_mmap(quant: str) -> bool:
    """Whether the apps (and the host check) let llama.cpp memory-map a GGUF of this format."""
    return quant not in _REPACKED_ON_CPU
