"""The errors sdkgen reports to people, each with its documented exit code.

Every error a user can cause is one of these: the CLI prints its message as one line on
stderr and exits with its code. Anything else escaping is a bug in sdkgen (exit 1).
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    DOES_NOT_FIT = 3
    TOOL_MISSING = 4
    CONVERSION_FAILED = 5
    VERIFICATION_FAILED = 6
    INTERRUPTED = 130


class SdkgenError(Exception):
    """An error with a message meant for the user: what is wrong and what to do."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str):
        # One line, always: the CLI contract is a single line on stderr.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class BadInput(SdkgenError):
    """A model folder, profile, flag or output path that cannot be used as given."""


class DoesNotFit(SdkgenError):
    """The requested plan needs more memory than the device budget allows."""

    exit_code = ExitCode.DOES_NOT_FIT


class ToolMissing(SdkgenError):
    """A runtime toolchain (Python package, compiler, SDK) is not installed."""

    exit_code = ExitCode.TOOL_MISSING


class ConversionFailed(SdkgenError):
    """The runtime's converter ran and failed."""

    exit_code = ExitCode.CONVERSION_FAILED


class VerificationFailed(SdkgenError):
    """The converted artifact does not reproduce the reference model within its thresholds."""

    exit_code = ExitCode.VERIFICATION_FAILED


class Interrupted(SdkgenError):
    """The user pressed Ctrl-C or the process got SIGTERM; nothing partial was left behind."""

    exit_code = ExitCode.INTERRUPTED


class OutOfSpace(BadInput):
    """A disk sdkgen writes to (the cache, the output's) filled up; the user must free space or move it."""
