"""Keep third-party start-up chatter off sdkgen's own output.

Importing transformers pulls in torchao (a litert-torch dependency), which logs that its CUDA
kernels cannot load on a CPU machine, and torch warns about its own enum registration. Neither
means anything to a user of sdkgen; its output should be its progress and its errors. Children
that run converters keep everything: their output goes to a log file.
"""

from __future__ import annotations

import logging

_CHATTY_LOGGERS = ("torchao", "torch.utils._pytree")


def quiet_ml_libraries() -> None:
    """Call before importing transformers in sdkgen's own process."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    import transformers

    transformers.utils.logging.disable_progress_bar()
