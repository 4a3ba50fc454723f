"""Device profiles: one TOML file per phone or tablet, every figure with its source.

A profile is a prior, not a measurement of the user's phone: the generated code measures
available memory again on the device before loading. What the profile must get right is the
order of magnitude of what one app may use, because that is what decides the plan.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdk_gen.errors import BadInput
from sdk_gen.resources import data_dir
from sdk_gen.units import GIB

# The OSes profiles describe (a profile's `platform`), with the name users read. "web" is a
# browser: the profile names the browser and the device it runs on.
TARGET_OSES = {"android": "Android", "ios": "iOS", "web": "web"}
# What kind of device it is: generated apps declare the families they run on from it (an iPad
# profile makes an app that also runs on iPads).
FORM_FACTORS = ("phone", "tablet", "desktop")
GPU_APIS = ("OpenCL", "Vulkan", "Metal", "WebGPU")


@dataclass(frozen=True)
class BrowserFacts:
    """What a web profile's browser lets one page hold and run (each figure sourced)."""

    name: str  # "Chrome"
    minimum_version: int  # the oldest release with every feature the engines need (JSPI, memory64)
    # WebAssembly's heap limit: weights, KV cache and buffers of a wasm runtime must fit under it.
    wasm_heap_limit_gib: float
    # What navigator.deviceMemory reports on this device (Chrome rounds down to a power of two and
    # caps it at 8): the generated memory check's only view of the RAM.
    device_memory_gib: float

    @property
    def wasm_heap_limit_bytes(self) -> int:
        return int(self.wasm_heap_limit_gib * GIB)


@dataclass(frozen=True)
class DeviceProfile:
    id: str
    name: str
    platform: str  # "android" or "ios"
    year: int
    # OS: the oldest release the device runs (its launch OS). Android: API level; iOS: major.minor.
    os_minimum: str
    android_api_level: int | None
    ios_version: str | None
    total_ram_gib: float
    # What one foreground app can hold before the OS kills it, and how that figure was derived.
    app_memory_gib: float
    app_memory_derivation: str
    # iOS only: the same with com.apple.developer.kernel.increased-memory-limit.
    app_memory_entitled_gib: float | None
    app_memory_entitled_derivation: str | None
    soc: str
    cpu_cores: int
    cpu_big_cores: int
    gpu: str
    gpu_apis: tuple[str, ...]
    npu: str | None
    sources: dict[str, str]
    notes: str = ""
    form_factor: str = "phone"
    browser: BrowserFacts | None = None  # web profiles only
    path: Path | None = field(default=None, compare=False)

    @property
    def total_ram_bytes(self) -> int:
        return int(self.total_ram_gib * GIB)

    @property
    def app_memory_bytes(self) -> int:
        return int(self.app_memory_gib * GIB)

    @property
    def app_memory_entitled_bytes(self) -> int | None:
        return None if self.app_memory_entitled_gib is None else int(self.app_memory_entitled_gib * GIB)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "platform": self.platform,
            "form_factor": self.form_factor,
            "year": self.year,
            "os_minimum": self.os_minimum,
            "android_api_level": self.android_api_level,
            "ios_version": self.ios_version,
            "total_ram_gib": self.total_ram_gib,
            "app_memory_gib": self.app_memory_gib,
            "app_memory_derivation": self.app_memory_derivation,
            "app_memory_entitled_gib": self.app_memory_entitled_gib,
            "app_memory_entitled_derivation": self.app_memory_entitled_derivation,
            "soc": self.soc,
            "cpu_cores": self.cpu_cores,
            "cpu_big_cores": self.cpu_big_cores,
            "gpu": self.gpu,
            "gpu_apis": list(self.gpu_apis),
            "npu": self.npu,
            "sources": dict(self.sources),
            "notes": self.notes,
            **({"browser": asdict(self.browser)} if self.browser else {}),
        }


# Figures that must each carry a source in the profile's [sources] table.
_SOURCED = ("total_ram", "app_memory", "soc", "gpu", "os")


def profiles_dir() -> Path:
    return data_dir("device_profiles")


def list_profiles() -> list[DeviceProfile]:
    return [load_profile_file(p) for p in sorted(profiles_dir().glob("*.toml"))]


def load_profile(name_or_path: str) -> DeviceProfile:
    """Load a built-in profile by id (``pixel8``) or a user's TOML file by path."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or candidate.is_file() or "/" in name_or_path:
        if not candidate.is_file():
            raise BadInput(f"device profile file {name_or_path} does not exist")
        return load_profile_file(candidate)
    builtin = profiles_dir() / f"{name_or_path}.toml"
    if builtin.is_file():
        return load_profile_file(builtin)
    known = sorted(p.stem for p in profiles_dir().glob("*.toml"))
    close = difflib.get_close_matches(name_or_path.lower(), known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known profiles: {', '.join(known)}"
    raise BadInput(f"unknown device profile {name_or_path!r}; {hint} (or pass a .toml file; `sdkgen profiles` lists them)")


def load_profile_file(path: Path) -> DeviceProfile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"device profile {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read device profile {path}: {exc}") from None
    return _parse(data, path)


class _Reader:
    """Typed access to a profile's fields, naming the file and field on any error."""

    def __init__(self, data: dict, path: Path):
        self.data = data
        self.path = path

    def _raw(self, dotted: str, required: bool) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise BadInput(f"device profile {self.path}: field '{dotted}' is missing")
                return None
            node = node[part]
        return node

    def fail(self, dotted: str, expected: str, value: Any) -> BadInput:
        return BadInput(f"device profile {self.path}: field '{dotted}' must be {expected}, got {value!r}")

    def text(self, dotted: str, required: bool = True) -> str | None:
        value = self._raw(dotted, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(dotted, "a non-empty string", value)
        return value

    def integer(self, dotted: str, low: int, high: int, required: bool = True) -> int | None:
        value = self._raw(dotted, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(dotted, f"an integer from {low} to {high}", value)
        return value

    def number(self, dotted: str, low: float, high: float, required: bool = True) -> float | None:
        value = self._raw(dotted, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.fail(dotted, f"a number from {low} to {high}", value)
        return float(value)


def _parse(data: dict, path: Path) -> DeviceProfile:
    r = _Reader(data, path)
    platform = r.text("platform")
    if platform not in TARGET_OSES:
        raise r.fail("platform", f"one of {', '.join(TARGET_OSES)}", platform)
    form_factor = r.text("form_factor", required=False) or "phone"
    if form_factor not in FORM_FACTORS:
        raise r.fail("form_factor", f"one of {', '.join(FORM_FACTORS)}", form_factor)
    total = r.number("memory.total_ram_gib", 0.5, 64)
    app = r.number("memory.app_memory_gib", 0.1, 64)
    if app > total:
        raise r.fail("memory.app_memory_gib", f"at most memory.total_ram_gib ({total})", app)
    entitled = r.number("memory.app_memory_entitled_gib", 0.1, 64, required=platform == "ios")
    entitled_derivation = r.text("memory.app_memory_entitled_derivation", required=platform == "ios")
    if entitled is not None:
        if platform != "ios":
            raise BadInput(f"device profile {path}: field 'memory.app_memory_entitled_gib' applies to iOS profiles only")
        if not app <= entitled <= total:
            raise r.fail("memory.app_memory_entitled_gib", f"between app_memory_gib ({app}) and total_ram_gib ({total})", entitled)

    api_level = r.integer("os.android_api_level", 21, 99, required=platform == "android")
    ios_version = r.text("os.ios_version", required=platform == "ios")
    if ios_version is not None and not _is_version(ios_version):
        raise r.fail("os.ios_version", "a version like \"17.0\"", ios_version)

    browser = None
    if platform == "web":
        browser = BrowserFacts(
            name=r.text("browser.name"),
            minimum_version=r.integer("browser.minimum_version", 1, 999),
            wasm_heap_limit_gib=r.number("browser.wasm_heap_limit_gib", 0.5, 64),
            device_memory_gib=r.number("browser.device_memory_gib", 0.25, 64),
        )
        r.text("sources.browser")
    elif r._raw("browser", False) is not None:
        raise BadInput(f"device profile {path}: the [browser] table applies to web profiles only")

    cores = r.integer("soc.cpu_cores", 1, 32)
    big = r.integer("soc.cpu_big_cores", 1, 32)
    if big > cores:
        raise r.fail("soc.cpu_big_cores", f"at most soc.cpu_cores ({cores})", big)
    apis_raw = r._raw("soc.gpu_apis", True)
    if not isinstance(apis_raw, list) or not all(a in GPU_APIS for a in apis_raw):
        raise r.fail("soc.gpu_apis", f"a list drawn from {', '.join(GPU_APIS)}", apis_raw)

    sources_raw = r._raw("sources", True)
    if not isinstance(sources_raw, dict):
        raise r.fail("sources", "a table of figure = source", sources_raw)
    for figure in _SOURCED:
        r.text(f"sources.{figure}")

    profile_id = r.text("id")
    return DeviceProfile(
        id=profile_id,
        name=r.text("name"),
        platform=platform,
        year=r.integer("year", 2010, 2100),
        os_minimum=r.text("os.minimum"),
        android_api_level=api_level,
        ios_version=ios_version,
        total_ram_gib=total,
        app_memory_gib=app,
        app_memory_derivation=r.text("memory.app_memory_derivation"),
        app_memory_entitled_gib=entitled,
        app_memory_entitled_derivation=entitled_derivation,
        soc=r.text("soc.name"),
        cpu_cores=cores,
        cpu_big_cores=big,
        gpu=r.text("soc.gpu"),
        gpu_apis=tuple(apis_raw),
        npu=r.text("soc.npu", required=False),
        sources={k: str(v) for k, v in sources_raw.items()},
        notes=r.text("notes", required=False) or "",
        form_factor=form_factor,
        browser=browser,
        path=path,
    )


def _is_version(text: str) -> bool:
    parts = text.split(".")
    return 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts)
