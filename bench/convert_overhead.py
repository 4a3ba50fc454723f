"""The conversion-overhead view of bench/figures.py: one runtime on the tiny demo model by default.

    .venv/bin/python bench/convert_overhead.py                      # LiteRT, tiny demo, four formats
    .venv/bin/python bench/convert_overhead.py --runtime llamacpp --size medium

Same table, same columns and options as figures.py (which runs every runtime and size).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import main  # noqa: E402

if __name__ == "__main__":
    main(runtimes=["litert"], sizes=["tiny"])
