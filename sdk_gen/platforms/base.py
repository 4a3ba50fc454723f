"""The small interface a target platform (Android, iOS) implements.

A platform validates its own options (package name, bundle id), turns a finished conversion
into the values its templates need, and decides where the model file goes in the project.
Rendering, atomic output and the report are shared (sdk_gen/project.py).
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdk_gen.errors import BadInput

# Models up to this size ship inside the app; larger ones are downloaded or sideloaded. Play's
# base download is capped at 150 MB compressed and model files do not compress, so 100 MB
# leaves room for the app itself (REFERENCE: flutter#529, aub.ai#8).
BUNDLE_LIMIT_BYTES = 100 * 1000 * 1000


@dataclass(frozen=True)
class ProjectOptions:
    """What the user asked of the generated project, beyond the model and the plan."""

    app_id: str | None = None  # Android package / iOS bundle identifier
    app_name: str | None = None
    model_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def delivery_for(artifact_bytes: int, model_url: str | None) -> str:
    if artifact_bytes <= BUNDLE_LIMIT_BYTES:
        return "asset"
    return "download" if model_url else "sideload"


# fullmatch, not match + "$": "$" would accept a trailing newline.
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)


def check_model_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not _URL.fullmatch(url) or any(ch in url for ch in "\"'`\\<>{}|^"):
        raise BadInput(f"--model-url {url!r} is not an http(s) URL; pass where the converted model can be downloaded")
    return url


def slug(text: str, fallback: str = "model") -> str:
    """Letters, digits and dashes only: safe as a Gradle project or Xcode target name."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return cleaned[:60] or fallback


class Platform(abc.ABC):
    key: str = ""
    display_name: str = ""
    template_name: str = ""

    @abc.abstractmethod
    def validate(self, options: ProjectOptions, model_name: str) -> ProjectOptions:
        """Check and complete the options (defaults filled in); raise BadInput on bad ones."""

    @abc.abstractmethod
    def context(self, generation: "Generation") -> dict[str, Any]:
        """The values the platform's templates render with."""

    @abc.abstractmethod
    def path_vars(self, generation: "Generation") -> dict[str, str]:
        """Placeholders in template paths and their values."""

    @abc.abstractmethod
    def model_destination(self, generation: "Generation") -> Path:
        """Where, relative to the project root, the model file goes (bundled or beside)."""


@dataclass
class Generation:
    """Everything known once the model is converted and verified: the input to rendering."""

    options: ProjectOptions
    conversion: Any  # sdk_gen.conversion.ConversionResult
    engine: str
    delivery: str
    budget: Any  # MemoryBudget with the artifact's real size
    chat: Any  # sdk_gen.chat.ChatFormat
    created: str
    template_version: str
