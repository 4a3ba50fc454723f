"""Bad input across every command, table-driven: each case must give one line on stderr that says
what is wrong and what to do, an exit code the README documents, and leave nothing written.

Every case runs the real CLI (in-process, or in a subprocess inside a private mount namespace
for the read-only and full-disk cases) against real files: models, profiles, adapters, caches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import PUBLISHED_CONFIGS, REPO, run_cli, tree_snapshot
from sdk_gen.model.inspect import TOKENIZER_FILES
from sdk_gen.runtimes.mlc.toolchain import mlc_importable

PACKAGE = "com.example.demo"


def documented_exit_codes() -> dict[int, str]:
    """The exit-code table of the README."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Exit codes"):]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE)}


@dataclass
class Workspace:
    """What a case may use: the demo model, a scratch folder, and the output path under test."""

    demo: Path
    scratch: Path
    outputs: Path

    @property
    def out(self) -> Path:
        return self.outputs / "out"

    def copy_demo(self, name: str) -> Path:
        target = self.scratch / name
        shutil.copytree(self.demo, target)
        return target

    def model_with_config(self, name: str, config: dict) -> Path:
        folder = self.scratch / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        return folder


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Workspace], list[str]]
    code: int
    says: tuple[str, ...]
    runner: str = "cli"  # or "namespace" (read-only / full filesystems)
    marks: tuple = field(default_factory=tuple)


def _truncated_safetensors(ws: Workspace) -> list[str]:
    folder = ws.copy_demo("truncated")
    data = (folder / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    (folder / "model.safetensors").write_bytes(data[: 8 + header_len // 2])
    return ["inspect", str(folder)]


def _corrupt_config(ws: Workspace) -> list[str]:
    folder = ws.copy_demo("corrupt")
    (folder / "config.json").write_text('{"model_type": "phi", "hidden_size": 25')
    return ["plan", "--model", str(folder), "--profile", "pixel8"]


def _profile_file(ws: Workspace, text: str) -> str:
    path = ws.scratch / "device.toml"
    path.write_text(text)
    return str(path)


def _profile_missing_field(ws: Workspace) -> list[str]:
    text = (REPO / "device_profiles" / "pixel8.toml").read_text()
    text = re.sub(r"^total_ram_gib = .*$", "", text, flags=re.MULTILINE)
    return ["android", "--model", str(ws.demo), "--profile", _profile_file(ws, text), "-o", str(ws.out)]


def _no_tokenizer(ws: Workspace) -> list[str]:
    folder = ws.copy_demo("no-tokenizer")
    for name in TOKENIZER_FILES:
        (folder / name).unlink(missing_ok=True)
    return ["convert", "--model", str(folder), "--runtime", "llamacpp", "-o", str(ws.out)]


def _unknown_pre_tokenizer(ws: Workspace) -> list[str]:
    folder = ws.copy_demo("custom-tokenizer")
    (folder / "sdkgen-demo.json").unlink()  # sdkgen no longer knows how the tokenizer was trained
    return ["convert", "--model", str(folder), "--runtime", "llamacpp", "--quant", "f16", "--context", "256", "--no-verify",
            "-o", str(ws.out)]


def _existing_output(ws: Workspace) -> list[str]:
    ws.out.mkdir()
    (ws.out / "keep.txt").write_text("mine")
    return ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "-o", str(ws.out)]


def _output_is_a_file(ws: Workspace) -> list[str]:
    ws.out.write_text("a file")
    return ["android", "--model", str(ws.demo), "--profile", "pixel8", "-o", str(ws.out), "--force"]


def _symlinked_output(ws: Workspace) -> list[str]:
    elsewhere = ws.scratch / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("not sdkgen's")
    ws.out.symlink_to(elsewhere, target_is_directory=True)
    return ["ios", "--model", str(ws.demo), "--profile", "iphone15pro", "-o", str(ws.out), "--force"]


def _adapter_for_another_model(ws: Workspace) -> list[str]:
    adapter = ws.scratch / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": str(ws.demo), "r": 4, "lora_alpha": 8,
        "target_modules": ["q_proj"],
    }))
    return ["convert", "--adapter", str(adapter), "--runtime", "litert", "-o", str(ws.out)]


def _ia3_adapter(ws: Workspace) -> list[str]:
    adapter = ws.scratch / "ia3"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3", "base_model_name_or_path": str(ws.demo)}))
    return ["convert", "--adapter", str(adapter), "--runtime", "litert", "-o", str(ws.out)]


def _task_from_tokenizer_without_sentencepiece(ws: Workspace) -> list[str]:
    folder = ws.copy_demo("wordlevel")
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = {token: index for token, index in tokenizer["model"]["vocab"].items()}
    tokenizer["model"] = {"type": "WordLevel", "vocab": vocab, "unk_token": "<|endoftext|>"}
    tokenizer["pre_tokenizer"] = {"type": "Whitespace"}
    tokenizer["decoder"] = None
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    return ["convert", "--model", str(folder), "--runtime", "litert", "--format", "task", "--context", "256",
            "-o", str(ws.out)]


def _read_only_output(ws: Workspace) -> list[str]:
    return ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "--quant", "f16", "--context", "256",
            "--no-verify", "-o", str(ws.outputs / "ro" / "out")]


def _full_disk(ws: Workspace) -> list[str]:
    return ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "--quant", "f16", "--context", "256",
            "--no-verify", "-o", str(ws.outputs / "small" / "out")]


CASES = [
    # --- models -----------------------------------------------------------------------------
    Case("missing-model-folder", lambda ws: ["inspect", str(ws.scratch / "nope")], 2, ("does not exist",)),
    Case("folder-without-config", lambda ws: ["plan", "--model", str(ws.scratch), "--profile", "pixel8"], 2, ("no config.json",)),
    Case("corrupt-config", _corrupt_config, 2, ("not valid JSON",)),
    Case("unknown-architecture",
         lambda ws: ["inspect", str(ws.model_with_config("bert", {"architectures": ["BertForMaskedLM"], "model_type": "bert"}))],
         2, ("BertForMaskedLM", "PhiForCausalLM")),
    Case("truncated-safetensors", _truncated_safetensors, 2, ("truncated",)),
    Case("known-name-not-downloaded", lambda ws: ["inspect", "qwen2.5-0.5b-instruct"], 2,
         ("Qwen/Qwen2.5-0.5B-Instruct", "hf download")),
    Case("config-without-weights",
         lambda ws: ["convert", "--model", str(PUBLISHED_CONFIGS / "phi-2"), "--runtime", "litert", "-o", str(ws.out)], 2,
         ("no weights", "hf download")),
    Case("no-tokenizer-for-gguf", _no_tokenizer, 2, ("no tokenizer", "add its tokenizer files")),
    Case("tokenizer-not-sentencepiece-for-task", _task_from_tokenizer_without_sentencepiece, 2, ("SentencePiece",)),
    Case("unrecognised-pre-tokenizer", _unknown_pre_tokenizer, 2, ("pass --pre-tokenizer NAME",)),
    Case("misspelt-pre-tokenizer",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "--pre-tokenizer", "gpt2", "-o", str(ws.out)],
         2, ("no pre-tokenizer 'gpt2'", "did you mean gpt-2")),
    Case("pre-tokenizer-for-litert",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "litert", "--pre-tokenizer", "gpt-2", "-o", str(ws.out)],
         2, ("add --runtime llamacpp",)),
    Case("adapter-for-another-model", _adapter_for_another_model, 2, ("adapter",)),
    Case("adapter-not-lora", _ia3_adapter, 2, ("IA3",)),
    Case("adapter-folder-missing",
         lambda ws: ["convert", "--adapter", str(ws.scratch / "no-adapter"), "--runtime", "litert", "-o", str(ws.out)],
         2, ("no-adapter",)),
    # --- profiles ---------------------------------------------------------------------------
    Case("unknown-profile", lambda ws: ["plan", "--model", str(ws.demo), "--profile", "iphone15-pro"], 2, ("iphone15pro",)),
    Case("malformed-profile-toml",
         lambda ws: ["plan", "--model", str(ws.demo), "--profile", _profile_file(ws, 'id = "x"\n[memory\n')], 2,
         ("not valid TOML",)),
    Case("profile-missing-a-field", _profile_missing_field, 2, ("'memory.total_ram_gib'",)),
    Case("ios-profile-for-android",
         lambda ws: ["android", "--model", str(ws.demo), "--profile", "iphone15pro", "-o", str(ws.out)], 2,
         ("is an iOS device profile", "needs an Android profile")),
    Case("android-profile-for-ios",
         lambda ws: ["ios", "--model", str(ws.demo), "--profile", "galaxy-s24", "-o", str(ws.out)], 2,
         ("is an Android device profile",)),
    Case("phone-profile-for-web",
         lambda ws: ["web", "--model", str(ws.demo), "--profile", "pixel8", "-o", str(ws.out)], 2,
         ("is an Android device profile", "needs a web profile")),
    Case("browser-profile-for-android",
         lambda ws: ["android", "--model", str(ws.demo), "--profile", "chrome-desktop", "-o", str(ws.out)], 2,
         ("is a web device profile", "needs an Android profile")),
    Case("web-with-a-phone-only-runtime",
         lambda ws: ["web", "--model", str(ws.demo), "--profile", "chrome-desktop", "--runtime", "mlc", "-o", str(ws.out)], 2,
         ("MLC LLM does not target web",)),
    Case("web-with-a-phone-only-format",
         lambda ws: ["web", "--model", str(ws.demo), "--profile", "chrome-desktop", "--runtime", "litert", "--format",
                     "litertlm", "-o", str(ws.out)], 2,
         (".litertlm files have no web wrapper", "--format")),
    Case("web-package-not-an-npm-name",
         lambda ws: ["web", "--model", str(ws.demo), "--profile", "chrome-desktop", "--package", "Bad Name", "-o", str(ws.out)], 2,
         ("invalid --package", "npm package name")),
    Case("project-without-profile", lambda ws: ["android", "--model", str(ws.demo), "-o", str(ws.out)], 2, ("--profile",)),
    # --- flags ------------------------------------------------------------------------------
    Case("zero-context", lambda ws: ["plan", "--model", str(ws.demo), "--profile", "pixel8", "--context", "0"], 2, ("positive",)),
    Case("negative-context",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "litert", "--context", "-3", "-o", str(ws.out)], 2,
         ("positive",)),
    Case("context-beyond-the-model",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "--context", "4096", "-o", str(ws.out)], 2,
         ("maximum of 2048",)),
    Case("unknown-quant",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "litert", "--quant", "q4_k_m", "-o", str(ws.out)], 2,
         ("unknown --quant 'q4_k_m'", "choose one of")),
    Case("unknown-runtime",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "onnx", "-o", str(ws.out)], 2, ("unknown runtime 'onnx'",)),
    Case("auto-runtime-without-profile",
         lambda ws: ["convert", "--model", str(ws.demo), "-o", str(ws.out)], 2, ("pass --profile",)),
    Case("format-the-runtime-does-not-write",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "llamacpp", "--format", "task", "-o", str(ws.out)], 2,
         ("writes gguf", "--format task")),
    Case("k-quant-on-a-narrow-model",
         lambda ws: ["plan", "--model", str(PUBLISHED_CONFIGS / "qwen2.5-0.5b-instruct"), "--profile", "pixel8",
                     "--runtime", "llamacpp", "--quant", "q4_k_m"], 2, ("multiple of 256", "q4_0")),
    Case("invalid-package",
         lambda ws: ["android", "--model", str(ws.demo), "--profile", "pixel8", "--package", "com.example.class", "-o", str(ws.out)],
         2, ("keyword",)),
    Case("invalid-bundle-id",
         lambda ws: ["ios", "--model", str(ws.demo), "--profile", "iphone15pro", "--bundle-id", "com.ex ample", "-o", str(ws.out)],
         2, ("--bundle-id",)),
    Case("bad-model-url",
         lambda ws: ["android", "--model", str(ws.demo), "--profile", "pixel8", "--model-url", "ftp://x y", "-o", str(ws.out)], 2,
         ("--model-url", "http(s)")),
    Case("empty-app-name",
         lambda ws: ["ios", "--model", str(ws.demo), "--profile", "iphone15pro", "--app-name", "  ", "-o", str(ws.out)], 2,
         ("--app-name",)),
    Case("unknown-option", lambda ws: ["plan", "--model", str(ws.demo), "--profile", "pixel8", "--fast"], 2, ("--fast",)),
    # --- outputs ----------------------------------------------------------------------------
    Case("existing-output-without-force", _existing_output, 2, ("already exists", "pass --force")),
    Case("output-is-a-file", _output_is_a_file, 2, ("not a folder",)),
    Case("symlinked-output", _symlinked_output, 2, ("symbolic link",)),
    Case("read-only-output", _read_only_output, 2, ("read-only", "choose another -o"), runner="namespace"),
    Case("full-disk", _full_disk, 2, ("No space left on device",), runner="namespace"),
    # --- fit and toolchains -----------------------------------------------------------------
    Case("does-not-fit",
         lambda ws: ["plan", "--model", str(PUBLISHED_CONFIGS / "mistral-7b-v0.1"), "--profile", "iphone13", "--runtime", "litert",
                     "--quant", "int8"], 3, ("iphone13 allows", "it fits on")),
    Case("project-that-does-not-fit",
         lambda ws: ["android", "--model", str(PUBLISHED_CONFIGS / "mistral-7b-v0.1"), "--profile", "android-4gb",
                     "-o", str(ws.out)], 3, ("android-4gb allows", "it fits on")),
    Case("runtime-missing",
         lambda ws: ["convert", "--model", str(ws.demo), "--runtime", "mlc", "--profile", "pixel8", "-o", str(ws.out)], 4,
         ("MLC LLM is not installed", "mlc.ai/wheels"),
         marks=(pytest.mark.skipif(mlc_importable(), reason="mlc_llm is installed here"),)),
]


def test_the_suite_is_broad_enough(demo_model, tmp_path):
    ws = Workspace(demo=demo_model, scratch=tmp_path / "scratch", outputs=tmp_path / "outputs")
    ws.scratch.mkdir()
    ws.outputs.mkdir()
    commands = set()
    for case in CASES:
        commands.add(case.argv(ws)[0])
        shutil.rmtree(ws.outputs)
        ws.outputs.mkdir()
    assert len(CASES) >= 30
    assert commands == {"inspect", "plan", "convert", "android", "ios", "web"}


def _can_mount_in_namespace() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def _run_in_namespace(case: Case, ws: Workspace, env: dict) -> tuple[int, str]:
    argv = case.argv(ws)
    if case.id == "read-only-output":
        target = ws.outputs / "ro"
        mount = f"mkdir -p {target} && mount -t tmpfs -o ro tmpfs {target}"
    else:
        target = ws.outputs / "small"
        mount = f"mkdir -p {target} && mount -t tmpfs -o size=256k tmpfs {target}"
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "sdk_gen", *argv])
    script = f"{mount} && {command}; echo \"exit=$?\"; ls -A {target}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.strip().splitlines()
    code_line = next(line for line in lines if line.startswith("exit="))
    assert lines[-1] == code_line, f"files were left behind: {lines[lines.index(code_line) + 1:]}"
    return int(code_line.removeprefix("exit=")), done.stderr


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case, demo_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # an empty Hugging Face cache
    ws = Workspace(demo=demo_model, scratch=tmp_path / "scratch", outputs=tmp_path / "outputs")
    ws.scratch.mkdir()
    ws.outputs.mkdir()
    if case.runner == "namespace":
        if not _can_mount_in_namespace():
            pytest.skip("this machine does not allow mount namespaces (unshare -rm)")
        code, stderr = _run_in_namespace(case, ws, {"SDKGEN_CACHE_DIR": str(cache)})
        lines = [line for line in stderr.splitlines() if line.strip()]
    else:
        argv = case.argv(ws)
        before = tree_snapshot(ws.outputs)
        scratch_before = tree_snapshot(ws.scratch)
        result = run_cli(*argv, cwd=tmp_path)
        code, lines = result.code, result.stderr_lines
        assert tree_snapshot(ws.outputs) == before, "output was written"
        assert tree_snapshot(ws.scratch) == scratch_before, "inputs were changed"
    assert code == case.code, lines
    assert code in documented_exit_codes(), f"exit {code} is not in the README's table"
    assert len(lines) == 1, lines
    assert lines[0].startswith("sdkgen: error: ")
    for fragment in case.says:
        assert fragment in lines[0], lines[0]


def test_corrupt_cache_entry_is_rebuilt_not_used(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "q8_0", "--context", "256", "--no-verify",
            "--json"]
    first = run_cli(*argv, "-o", str(tmp_path / "first"))
    assert first.code == 0, first.stderr
    entry = Path(json.loads(first.stdout)["cache"]["path"])
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes: only the SHA-256 can tell
    entry.write_bytes(bytes(data))
    second = run_cli(*argv, "-o", str(tmp_path / "second"))
    assert second.code == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["cache"]["hit"] is False  # the damaged entry was not used
    assert report["artifacts"][0]["sha256"] == json.loads(first.stdout)["artifacts"][0]["sha256"]
    assert hashlib.sha256(entry.read_bytes()).hexdigest() == report["artifacts"][0]["sha256"]
