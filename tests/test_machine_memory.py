"""Host verification that cannot fit this machine is refused before it starts, with the figure
and the way out, instead of swapping for minutes until the out-of-memory killer ends it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conftest import PUBLISHED_CONFIGS, run_cli
from sdk_gen import verify_worker
from sdk_gen.conversion import ConversionJob
from sdk_gen.model import inspect_model
from sdk_gen.runtimes import get_runtime
from sdk_gen.units import GIB


def _job(model, runtime: str, quant: str, artifact_format: str) -> ConversionJob:
    spec = inspect_model(str(model))
    backend = get_runtime(runtime)
    return ConversionJob(model_dir=model, spec=spec, runtime=backend, quant=backend.quant(quant), context=2048,
                         artifact_format=artifact_format, backend="cpu", threads=2, name=None, platform=None)


def test_a_7b_model_is_predicted_beyond_this_machine_and_a_1b_within_it():
    # Mistral 7B's published config: its float32 reference alone is ~27 GiB.
    big = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "llamacpp", "q8_0", "gguf")
    assert verify_worker.predicted_peak_bytes(big, int(7.7 * GIB)) > 40 * GIB
    small = _job(PUBLISHED_CONFIGS / "llama-3.2-1b-instruct", "llamacpp", "q4_0", "gguf")
    assert verify_worker.predicted_peak_bytes(small, int(0.7 * GIB)) < 10 * GIB


def test_verification_that_cannot_fit_is_refused_with_the_way_out(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(verify_worker, "available_memory_bytes", lambda: 64 << 20)  # a 64 MiB machine
    out = tmp_path / "out"
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "f16",
                     "--context", "256", "-o", str(out))
    assert result.code == 3, result.stderr
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert "host verification needs about" in line and "64 MiB" not in line and "0.1 GiB available" in line
    assert "--no-verify" in line
    assert not out.exists()
    # The way out works.
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "f16",
                     "--context", "256", "--no-verify", "-o", str(out), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["verification"] is None


def test_litert_at_8b_is_predicted_beyond_this_machine_and_llama_cpp_within_it():
    from sdk_gen.conversion import predicted_conversion_bytes

    # Mistral 7B's published shape (7.24B parameters): LiteRT's export would need ~46 GiB.
    big = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "litert", "int8", "litertlm")
    assert 40 * GIB < predicted_conversion_bytes(big) < 55 * GIB
    # llama.cpp's converter streams: its peak follows the largest tensor, a few GiB.
    assert predicted_conversion_bytes(_job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "llamacpp", "q8_0", "gguf")) < 6 * GIB


def test_a_conversion_that_cannot_fit_is_refused_before_it_starts(demo_model, tmp_path, monkeypatch):
    from sdk_gen import conversion

    cache = tmp_path / "cache"
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(conversion, "available_memory_bytes", lambda: 1 << 20)  # a 1 MiB machine
    out = tmp_path / "out"
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "litert", "--quant", "int8", "-o", str(out))
    assert result.code == 3, result.stderr
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert "converting with LiteRT" in line and "6.8 bytes per parameter" in line and "1.00 MiB available" in line
    assert "--runtime llamacpp" in line
    assert not out.exists() and not list(cache.rglob("entry.json"))
