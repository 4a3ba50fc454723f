"""PyTorch's answers are computed once per model and reused: by a second runtime or format, by the
other platform, and by a rerun; a cached artifact reuses its own passed verification."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdk_gen import conversion
from sdk_gen.conversion import ConversionRequest, convert
from sdk_gen.progress import Progress
from sdk_gen.verify import PLAIN_PROMPTS, ReferenceCache, StopRule, TorchReference


def _ask(reference: TorchReference):
    ids = reference.encode(PLAIN_PROMPTS[0])
    generated = reference.greedy(ids, 6, StopRule(((0,),)))
    return generated, reference.logits(ids + generated)


def test_a_second_reference_answers_from_the_cache_without_loading_the_model(demo_model, tmp_path):
    cache = ReferenceCache(tmp_path / "references")
    first = TorchReference(demo_model, "original", cache)
    ids, rows = _ask(first)
    assert first._model is not None  # it had to compute
    assert len(list(cache.folder.glob("greedy-*.json"))) == 1 and len(list(cache.folder.glob("logits-*.npy"))) == 1

    second = TorchReference(demo_model, "original", ReferenceCache(tmp_path / "references"))
    again_ids, again_rows = _ask(second)
    assert second._model is None, "every answer was cached: the model must not load"
    assert again_ids == ids and np.array_equal(again_rows, rows)
    # ...and the cached answers are PyTorch's: the same as an uncached reference computes.
    plain_ids, plain_rows = _ask(TorchReference(demo_model, "original"))
    assert plain_ids == ids and np.array_equal(plain_rows, rows)


def test_other_weights_and_other_steps_are_other_answers(demo_model, tmp_path):
    cache = ReferenceCache(tmp_path / "references")
    original = TorchReference(demo_model, "original", cache)
    ids = original.encode(PLAIN_PROMPTS[1])
    original.logits(ids)
    rounded = TorchReference(demo_model, "fp16-weights", cache)
    rounded.logits(ids)
    assert rounded._model is not None, "fp16-rounded weights are a different model: never answered from the original's cache"
    original.greedy(ids, 4, StopRule(()))
    original.greedy(ids, 5, StopRule(()))
    assert len(list(cache.folder.glob("logits-*.npy"))) == 2 and len(list(cache.folder.glob("greedy-*.json"))) == 2


def test_runtimes_with_other_stop_tokens_share_one_cached_generation(demo_model, tmp_path):
    """llama.cpp stops on the GGUF's end-of-generation ids, LiteRT on the chat template's: one
    cached generation answers both, cut where an uncached reference would have stopped."""
    cache = ReferenceCache(tmp_path / "references")
    plain = TorchReference(demo_model, "original")
    ids = plain.encode(PLAIN_PROMPTS[2])
    whole = plain.greedy(ids, 12, StopRule(()))
    stops = [StopRule(()), StopRule(((whole[3],),)), StopRule(((whole[5], whole[6]),)), StopRule(((whole[0],), (whole[8],)))]
    cached = [TorchReference(demo_model, "original", cache).greedy(ids, 12, stop) for stop in stops]
    assert cached == [plain.greedy(ids, 12, stop) for stop in stops]
    assert [len(c) for c in cached[1:]] == [whole.index(whole[3]), whole.index(whole[5]), 0]
    assert len(list(cache.folder.glob("greedy-*.json"))) == 1


def test_a_damaged_cache_file_is_recomputed_not_trusted(demo_model, tmp_path):
    cache = ReferenceCache(tmp_path / "references")
    ids, rows = _ask(TorchReference(demo_model, "original", cache))
    (logits_file,) = cache.folder.glob("logits-*.npy")
    logits_file.write_bytes(b"not a numpy file")
    (greedy_file,) = cache.folder.glob("greedy-*.json")
    greedy_file.write_text('{"oops": 1}')
    fresh = TorchReference(demo_model, "original", cache)
    again_ids, again_rows = _ask(fresh)
    assert fresh._model is not None and again_ids == ids and np.array_equal(again_rows, rows)


class _Notes(Progress):
    def __init__(self):
        super().__init__(quiet=True)
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.mark.slow
def test_a_cache_hit_reuses_its_verification_and_a_second_format_reuses_the_reference(demo_model, tmp_path):
    request = ConversionRequest(model=str(demo_model), runtime="llamacpp", quant="q8_0", context=256, cache_dir=tmp_path / "c")
    cold = convert(request)
    assert cold.verification is not None and cold.verification.passed and "verify" in cold.timings
    references = list((tmp_path / "c").rglob("references/*/*"))
    assert references, "the verification must have cached PyTorch's answers"

    progress = _Notes()
    hit = convert(request, progress)
    assert hit.cache_hit and "verify" not in hit.timings
    assert hit.verification.to_json() == cold.verification.to_json()
    assert any("reusing this artifact's host verification" in note for note in progress.notes)

    # Another quantization of the same model asks the original model the same questions: no new
    # answers from it (the new file's own weights are another reference, keyed by its digest).
    original = sorted((tmp_path / "c").rglob("references/*/*-original-*"))
    assert original
    other = convert(ConversionRequest(model=str(demo_model), runtime="llamacpp", quant="q4_k_m", context=256,
                                      cache_dir=tmp_path / "c"))
    assert other.verification.passed and "verify" in other.timings
    assert sorted((tmp_path / "c").rglob("references/*/*-original-*")) == original
    assert len(list((tmp_path / "c").rglob("references/*/*-artifact-*"))) > len([p for p in references if "-artifact-" in p.name])


@pytest.mark.slow
def test_a_record_made_under_other_checks_is_not_reused(demo_model, tmp_path, monkeypatch):
    request = ConversionRequest(model=str(demo_model), runtime="llamacpp", quant="q8_0", context=256, cache_dir=tmp_path / "c")
    convert(request)
    (record,) = (tmp_path / "c").rglob("verification.json")
    monkeypatch.setattr(conversion, "VERIFICATION_VERSION", conversion.VERIFICATION_VERSION + 1)
    again = convert(request)
    assert "verify" in again.timings, "a record from older checks must not stand in for the new ones"
    assert json.loads(record.read_text())["inputs"]["version"] == conversion.VERIFICATION_VERSION
    # A record someone edited to claim other thresholds is not reused either.
    data = json.loads(record.read_text())
    data["inputs"]["thresholds"]["fidelity_noise_factor"] = 100.0
    record.write_text(json.dumps(data))
    assert "verify" in convert(request).timings


@pytest.mark.slow
def test_no_verify_writes_no_record(demo_model, tmp_path):
    convert(ConversionRequest(model=str(demo_model), runtime="llamacpp", quant="q8_0", context=256,
                              cache_dir=tmp_path / "c", verify=False))
    assert not list((tmp_path / "c").rglob("verification.json"))
    assert not list((tmp_path / "c").rglob("references/*/*"))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "c"))
