"""llama.cpp: GGUF from the converter inside the llama-cpp-python sdist, quantized with
llama_model_quantize, checked with llama_cpp.Llama; and the generated projects' native code,
with the Android JNI bridge built by g++ and driven from compiled Kotlin on the JVM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import android_toolchain as tc
from conftest import REPO, run_cli, tree_snapshot
from sdk_gen.chat import chat_format_for_model
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.runtimes.llamacpp import toolchain
from sdk_gen.runtimes.llamacpp.checks import continue_greedy
from sdk_gen.runtimes.llamacpp.checks import greedy as llama_greedy
from sdk_gen.runtimes.llamacpp.checks import open_model
from sdk_gen.verify import StopRule, TorchReference

CONTEXT = "256"
PACKAGE = "com.example.demo"  # tests/harness/LlamaCppHarness.kt imports this package
GREEDY_STEPS = 32
# ggml type ids (ggml.h, enum ggml_type) of the matrices each quantization should produce.
GGML_TYPES = {"F16": 1, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("llamacpp-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def _convert_json(model, out, *extra) -> dict:
    result = run_cli("convert", "--model", str(model), "--runtime", "llamacpp", "--context", CONTEXT, "-o", str(out), "--json", *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def gguf_reader(path: Path):
    """gguf-py from the same llama.cpp tree that wrote the file."""
    gguf_py = str(toolchain.llama_cpp_dir() / "gguf-py")
    if gguf_py not in sys.path:
        sys.path.insert(0, gguf_py)
    import gguf

    return gguf.GGUFReader(path)


def gguf_string(reader, key: str) -> str:
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def matrix_types(reader) -> dict[str, int]:
    """ggml type of every 2-D weight (norms and biases stay float in every format)."""
    return {t.name: int(t.tensor_type) for t in reader.tensors if len(t.shape) == 2}


@pytest.mark.slow
def test_f16_gguf_equals_pytorch_token_for_token(demo_model, tmp_path):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", "f16")
    verification = report["verification"]
    assert verification["passed"] is True
    assert verification["matched"] == verification["steps"] >= 4 * 30
    assert verification["checks"]["tokenizer_parity"] is True
    assert verification["thresholds"]["reference"] == "artifact"  # the GGUF's own (fp16) weights, dequantized
    assert verification["logits"]["max_abs_diff"] < 0.02 and verification["logits"]["top1_agreement"] == 1.0
    assert verification["runtime"].startswith(f"llama_cpp.Llama {toolchain.VERSION}")

    artifact = report["artifacts"][0]
    path = tmp_path / "out" / artifact["path"]
    assert path.suffix == ".gguf" and path.read_bytes()[:4] == b"GGUF"
    reader = gguf_reader(path)
    assert gguf_string(reader, "general.architecture") == "phi2"
    assert gguf_string(reader, "tokenizer.ggml.pre") == "gpt-2"  # the demo tokenizer's byte-level split
    assert set(matrix_types(reader).values()) == {GGML_TYPES["F16"]}
    assert report["toolchain"]["llama-cpp-python"] == toolchain.VERSION
    assert 0.95 <= report["weights"]["actual_over_predicted"] <= 1.05, report["weights"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "quant, min_corr, min_top1, matrix_type",
    [("q8_0", 0.999, 0.85, "Q8_0"), ("q4_k_m", 0.97, 0.55, "Q4_K"), ("q4_0", 0.95, 0.50, "Q4_0")],
)
def test_quantized_gguf_agrees_and_holds_the_named_blocks(demo_model, tmp_path, quant, min_corr, min_top1, matrix_type):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", quant, "--profile", "pixel8")
    verification = report["verification"]
    assert verification["passed"] is True and verification["thresholds"]["exact"] is False
    logits = verification["logits"]
    assert logits["mean_correlation"] >= min_corr and logits["top1_agreement"] >= min_top1
    assert logits["max_abs_diff"] > 1e-3  # quantized: not the float model

    reader = gguf_reader(tmp_path / "out" / report["artifacts"][0]["path"])
    types = matrix_types(reader)
    share = sum(t == GGML_TYPES[matrix_type] for t in types.values()) / len(types)
    assert share >= 0.5, types  # most matrices; the output matrix and some attn_v/ffn_down get more bits
    assert 0.95 <= report["weights"]["actual_over_predicted"] <= 1.05, report["weights"]

    # The budget is redone with the KV cache llama.cpp actually allocated, which equals the formula.
    predicted, actual = report["budget"]["predicted"], report["budget"]["actual"]
    assert actual["kv_source"] == "runtime" and actual["weights_source"] == "artifact"
    assert actual["kv_cache_bytes"] == verification["measured"]["kv_cache_bytes"] == predicted["kv_cache_bytes"]


@pytest.mark.slow
def test_wrong_pre_tokenizer_fails_verification(demo_model, tmp_path):
    # llama-bpe splits digits and contractions differently from the GPT-2 rule the demo tokenizer
    # was trained with: the file converts, and the tokenizer parity check must catch it.
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "f16", "--context", CONTEXT,
                     "--pre-tokenizer", "llama-bpe", "-o", str(tmp_path / "out"))
    assert result.code == 6, result.stderr
    assert "tokenizer_parity" in result.stderr_lines[-1]
    assert not (tmp_path / "out").exists()


def test_unrecognised_pre_tokenizer_asks_for_one(demo_model, tmp_path):
    custom = tmp_path / "custom"
    shutil.copytree(demo_model, custom)
    (custom / "sdkgen-demo.json").unlink()  # without it, sdkgen no longer knows how it was trained
    before = tree_snapshot(tmp_path)
    result = run_cli("convert", "--model", str(custom), "--runtime", "llamacpp", "--quant", "f16", "--context", CONTEXT,
                     "-o", str(tmp_path / "out"))
    assert result.code == 2, result.stderr
    assert len(result.stderr_lines) == 1 and "pass --pre-tokenizer NAME" in result.stderr
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "runtime, name, expected",
    [("llamacpp", "gpt2", "did you mean gpt-2"), ("litert", "gpt-2", "add --runtime llamacpp")],
)
def test_pre_tokenizer_is_checked_before_any_work(demo_model, tmp_path, runtime, name, expected):
    result = run_cli("convert", "--model", str(demo_model), "--runtime", runtime, "--pre-tokenizer", name,
                     "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1 and expected in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_cache_key_is_the_content_wherever_the_model_lives(demo_model, tmp_path, cache_dir):
    """A model sdkgen has not hashed is hashed beside the conversion; the key is its content."""
    from safetensors.torch import load_file, save_file

    from sdk_gen.cache import ArtifactCache
    from sdk_gen.hashing import folder_remembered

    first = _convert_json(demo_model, tmp_path / "first", "--quant", "q8_0", "--no-verify")
    assert folder_remembered(demo_model, ArtifactCache(cache_dir).hasher)

    moved = tmp_path / "moved"
    shutil.copytree(demo_model, moved)  # new paths and inodes: nothing on record
    assert not folder_remembered(moved, ArtifactCache(cache_dir).hasher)
    again = _convert_json(moved, tmp_path / "again", "--quant", "q8_0", "--no-verify")
    assert again["cache"]["hit"] is True and again["cache"]["key"] == first["cache"]["key"]
    assert again["artifacts"][0]["sha256"] == first["artifacts"][0]["sha256"]

    changed = tmp_path / "changed"
    shutil.copytree(demo_model, changed)
    weights = load_file(changed / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1.0
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    other = _convert_json(changed, tmp_path / "other", "--quant", "q8_0", "--no-verify")
    assert other["cache"]["hit"] is False and other["cache"]["key"] != first["cache"]["key"]
    assert other["model"]["digest"] != first["model"]["digest"]
    assert other["artifacts"][0]["sha256"] != first["artifacts"][0]["sha256"]


def test_known_pre_tokenizers_come_from_llama_cpp_itself():
    known = toolchain.known_pre_tokenizers()
    assert {"gpt-2", "llama-bpe", "qwen2", "deepseek-llm"} <= set(known) and len(known) > 50


def test_local_sdist_is_the_pinned_one():
    digest = hashlib.sha256(toolchain.sdist_path().read_bytes()).hexdigest()
    assert digest == toolchain.SDIST_SHA256
    assert toolchain.SDIST_URL.endswith(f"/llama_cpp_python-{toolchain.VERSION}.tar.gz")
    # The converter, the host runtime and the apps' llama.cpp are one version.
    assert version("llama-cpp-python") == toolchain.VERSION
    assert f'"llama-cpp-python=={toolchain.VERSION}"' in (REPO / "pyproject.toml").read_text()


def test_the_log_collector_hands_back_the_callback_it_replaced(tmp_path):
    """llama.cpp keeps a bare C pointer to its log callback. The verification's collector used to
    stay installed after it was freed, so the next log line in the process (a later model load)
    called freed memory: a test process died of a segfault in llama_model_load_from_file."""
    import ctypes
    import gc

    import llama_cpp

    from sdk_gen.runtimes.llamacpp.checks import LlamaLog

    def installed() -> int | None:
        callback, user_data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
        llama_cpp.llama_log_get(ctypes.byref(callback), ctypes.byref(user_data))
        return ctypes.cast(callback, ctypes.c_void_p).value

    def load_missing_model() -> None:  # llama.cpp logs why it failed
        path = str(tmp_path / "missing.gguf").encode()
        assert llama_cpp.llama_model_load_from_file(path, llama_cpp.llama_model_default_params()) is None

    before = installed()
    with LlamaLog() as log:
        assert installed() not in (None, before)
        load_missing_model()
    assert "missing.gguf" in "".join(log.lines)
    del log
    gc.collect()
    assert installed() == before
    load_missing_model()


# --- the generated projects --------------------------------------------------------------


def generate(platform: str, model: Path, out: Path, cache: Path, quant: str = "f16"):
    conversion = ConversionRequest(model=str(model), runtime="llamacpp", quant=quant, context=int(CONTEXT),
                                   profile="pixel8" if platform == "android" else "iphone15pro",
                                   cache_dir=cache, verify=False)
    options = ProjectOptions(app_id=PACKAGE, app_name="Demo Chat", model_url=None)
    return generate_project(ProjectRequest(platform, conversion, options, out))


@pytest.fixture(scope="module")
def android_project(demo_model, tmp_path_factory, cache_dir):
    return generate("android", demo_model, tmp_path_factory.mktemp("android-llama") / "DemoChat", cache_dir)


@pytest.fixture(scope="module")
def ios_project(demo_model, tmp_path_factory, cache_dir):
    return generate("ios", demo_model, tmp_path_factory.mktemp("ios-llama") / "DemoChat", cache_dir)


def test_android_project_builds_llama_cpp_from_the_pinned_sdist(android_project):
    root = android_project.path
    assert android_project.generation.engine.key == "llamacpp"
    cmake = (root / "llm/src/main/cpp/CMakeLists.txt").read_text()
    assert f"URL {toolchain.SDIST_URL}\n" in cmake and f"URL_HASH SHA256={toolchain.SDIST_SHA256}\n" in cmake
    gradle = (root / "llm/build.gradle.kts").read_text()
    assert 'path = file("src/main/cpp/CMakeLists.txt")' in gradle and "arm64-v8a" in gradle
    assert (root / "llm/src/main/assets/demo-f16.gguf").is_file()
    for path in [root / "llm/build.gradle.kts", *root.glob("llm/src/main/kotlin/**/LlamaCpp*.kt")]:
        assert tc.tree_sitter_errors(path, "kotlin") == [], path
    assert not list(root.rglob("LiteRtLmEngine.kt")) and not list(root.rglob("MediaPipeLlmEngine.kt"))
    assert f'ndkVersion = "{toolchain.ANDROID_NDK_VERSION}"' in gradle and "FETCHCONTENT_BASE_DIR" in gradle


def test_android_cmake_project_configures_with_cpu_variants_and_16k_pages(android_project, tmp_path):
    """CMake (the host's) configures the generated project against the pinned sdist's llama.cpp:
    the CPU backend in loadable variants (GGML_BACKEND_DL needs shared libraries, or llama.cpp's
    CMake stops) and every library linked for 16 KB pages."""
    cmake = shutil.which("cmake")
    assert cmake, "cmake is missing; run scripts/setup.sh"
    source = android_project.path / "llm/src/main/cpp"
    # The sdist's layout (llama.cpp under vendor/), from sdkgen's unpacked copy: nothing is fetched.
    sdist = tmp_path / "sdist"
    (sdist / "vendor").mkdir(parents=True)
    (sdist / "vendor" / "llama.cpp").symlink_to(toolchain.llama_cpp_dir())
    done = subprocess.run(
        [cmake, "-S", str(source), "-B", str(tmp_path / "build"), "-DCMAKE_BUILD_TYPE=Release",
         f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP_PYTHON={sdist}"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cache = (tmp_path / "build" / "CMakeCache.txt").read_text()
    for setting in ("GGML_BACKEND_DL:BOOL=ON", "GGML_CPU_ALL_VARIANTS:BOOL=ON", "BUILD_SHARED_LIBS:BOOL=ON"):
        assert setting in cache, setting
    # The link lines CMake wrote: the bridge and every CPU variant library get the 16 KB flag.
    links = {path.parent.name: path.read_text() for path in (tmp_path / "build").rglob("link.txt")}
    variants = [name for name in links if name.startswith("ggml-cpu-")]
    assert len(variants) >= 2, sorted(links)
    for name in ["sdkgen_llama.dir", *variants]:
        assert "max-page-size=16384" in links[name], name


@pytest.mark.parametrize("quant, mapped", [("f16", "true"), ("q8_0", "true"), ("q4_0", "false"), ("q4_k_m", "false")])
def test_repacked_formats_load_without_mmap(demo_model, tmp_path, cache_dir, quant, mapped):
    # llama.cpp repacks 4-bit formats into its own CPU buffer; a mapping would keep a second copy
    # resident, so the apps load those into memory once, as the memory plan counts them.
    android = generate("android", demo_model, tmp_path / "a", cache_dir, quant=quant).path
    model_info = next(android.rglob("ModelInfo.kt")).read_text()
    assert f"LLAMA_USE_MMAP: Boolean = {mapped}" in model_info
    ios = generate("ios", demo_model, tmp_path / "i", cache_dir, quant=quant).path
    assert f"llamaUseMmap = {mapped}" in (ios / "Sources/LLMKit/ModelInfo.swift").read_text()


def test_android_project_compiles_and_its_unit_tests_pass(android_project, stub_classes, tmp_path):
    classes = tc.compile_project(android_project.path, PACKAGE, stub_classes, tmp_path)
    report = tc.run_junit(tc.unit_test_classes(android_project.path, PACKAGE),
                          tc.classpath(classes, tc.kotlin_runtime_jars(), tc.junit_jars()))
    assert "OK (" in report, report


def utf8_cases(count: int, seed: int = 0) -> list[bytes]:
    """Byte strings that mix valid characters of every width with truncated and malformed ones."""
    import random

    rng = random.Random(seed)
    alphabet = ["a", " ", "é", "€", "😀", "\u0336", "\ud7ff", "\U0010ffff"]
    cases = [b"", "h€llo 😀".encode(), b"\xe2\x41", b"\xcc\xb6", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            choice = rng.random()
            if choice < 0.6:
                parts.append(rng.choice(alphabet).encode("utf-8"))
            elif choice < 0.8:
                whole = rng.choice(alphabet[2:]).encode("utf-8")
                parts.append(whole[: rng.randint(1, len(whole) - 1)])  # a character cut short
            else:
                parts.append(bytes([rng.randint(0x80, 0xFF)]))
        cases.append(b"".join(parts))
    return cases


def test_bridge_streams_text_exactly_as_the_whole_would_decode(android_project, tmp_path):
    root = android_project.path
    driver = tc.build_executable(
        [REPO / "tests/harness/utf8_chunks.cpp"], tmp_path / "utf8_chunks",
        [root / "llm/src/main/cpp", *tc.jni_include_dirs(), *toolchain.include_dirs()], toolchain.library_dir(), ["llama", "ggml"],
    )
    cases = utf8_cases(2000)
    done = subprocess.run([str(driver)], input="".join(c.hex() + "\n" for c in cases), capture_output=True, text=True, check=True)
    for case, line in zip(cases, done.stdout.splitlines(), strict=True):
        chunks = [] if line == "-" else [bytes.fromhex(h) for h in line.split()]
        assert b"".join(chunks) == case
        streamed = "".join(chunk.decode("utf-8", errors="replace") for chunk in chunks)
        assert streamed == case.decode("utf-8", errors="replace"), case
        # Nothing is held back longer than needed: only a valid, unfinished tail waits.
        for chunk in chunks[:-1]:
            assert chunk, case


NEXT_MESSAGE = "And then?"
REPLY_CAP = 24  # tokens per reply in the multi-turn chat, so several turns fit the context


def run_jni_harness(project_root: Path, stub_classes: Path, work: Path, prompts: list[str], chat_message: str) -> list[str]:
    """Build the generated bridge with g++ and the generated Kotlin with kotlinc, run the harness
    on the JVM over the project's GGUF, and return its output lines."""
    native = work / "native"
    native.mkdir()
    tc.build_shared_library([project_root / "llm/src/main/cpp/llama_bridge.cpp"], native / "libsdkgen_llama.so",
                            tc.jni_include_dirs() + toolchain.include_dirs(), toolchain.library_dir(), ["llama", "ggml"])
    classes = tc.compile_project(project_root, PACKAGE, stub_classes, work / "project")
    harness = work / "harness"
    tc.compile_kotlin([REPO / "tests/harness/LlamaCppHarness.kt"], harness, tc.classpath(classes, tc.kotlin_runtime_jars()))
    (work / "prompts.txt").write_text(
        "".join(base64.b64encode(p.encode("utf-8")).decode() + "\n" for p in prompts), encoding="utf-8"
    )
    (model_file,) = (project_root / "llm/src/main/assets").glob("*.gguf")
    done = subprocess.run(
        ["java", f"-Djava.library.path={native}", "-cp", tc.classpath(harness, classes, tc.kotlin_runtime_jars()),
         "LlamaCppHarnessKt", str(model_file), str(work / "prompts.txt"), str(GREEDY_STEPS), chat_message,
         NEXT_MESSAGE, str(REPLY_CAP)],
        capture_output=True, text=True, timeout=300, cwd=work,  # a JVM crash log lands in the test's folder
    )
    assert done.returncode == 0, done.stderr[-4000:]
    kinds = ("ids", "flow", "cancelled", "again", "slow", "resent", "closed", "turns", "contextfull")
    return [line for line in done.stdout.splitlines() if line.split(" ", 1)[0] in kinds]


def eog_stop(llm) -> StopRule:
    import llama_cpp

    vocab = llm._model.vocab
    return StopRule(tuple((t,) for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)))


@pytest.mark.slow
def test_jni_bridge_on_the_jvm_generates_what_pytorch_does(android_project, demo_model, stub_classes, tmp_path):
    """The generated bridge and engine, built here against the wheel's libllama.so, run the GGUF."""
    root = android_project.path
    reference = TorchReference(demo_model, "fp16-weights")
    prompts = reference.prompts()
    chat_message = "Hello"
    lines = run_jni_harness(root, stub_classes, tmp_path, prompts, chat_message)
    model_file = root / "llm/src/main/assets/demo-f16.gguf"

    llm = open_model(model_file, int(CONTEXT), "f16")
    stop = eog_stop(llm)

    for prompt, line in zip(prompts, lines[: len(prompts)], strict=True):
        _, ids, _, generated = line.split(" ")
        prompt_ids = reference.encode(prompt)
        assert [int(i) for i in ids.split(",")] == prompt_ids, prompt
        expected = reference.greedy(prompt_ids, GREEDY_STEPS, stop)
        assert [int(i) for i in generated.split(",") if i] == expected, prompt

    # generate(): the model's chat format around the message, decoded text streamed as it completes.
    outputs = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in lines[len(prompts):]}
    chat_prompt = reference.tokenizer.apply_chat_template(
        [{"role": "user", "content": chat_message}], tokenize=False, add_generation_prompt=True
    )
    # Over a whole context, fp16 rounding flips near-tied argmaxes of this random model, so the
    # streamed text is held to llama.cpp's Python binding on the same file; ids were held to PyTorch above.
    # EngineSettings.maxTokens counts prompt and reply together, as MediaPipe's does.
    chat_ids = reference.encode(chat_prompt)
    expected_ids = llama_greedy(llm, chat_ids, int(CONTEXT) - len(chat_ids), stop)
    expected_text = llm.detokenize(expected_ids).decode("utf-8", errors="replace")
    full = base64.b64decode(outputs["flow"][0]).decode("utf-8")
    assert full == expected_text and full
    assert base64.b64decode(outputs["again"][0]).decode("utf-8") == full
    count, first = int(outputs["cancelled"][0]), base64.b64decode(outputs["cancelled"][1]).decode("utf-8")
    assert count == 2 and full.startswith(first)
    # The engine's lifecycle (issue: use-after-free on close, overlapping generations, dropped
    # tokens): a slow collector gets every piece, stop-then-send gets the whole new reply, and
    # close during a reply waits for the native loop, then refuses further use.
    assert base64.b64decode(outputs["slow"][0]).decode("utf-8") == full
    assert base64.b64decode(outputs["resent"][0]).decode("utf-8") == full
    refused, closing = outputs["closed"][0], base64.b64decode(outputs["closed"][1]).decode("utf-8")
    assert refused == "yes" and closing and full.startswith(closing)

    # Multi-turn chat: the second reply continues the conversation in llama.cpp's KV cache, after
    # the template's closer for the first reply, exactly as llama.cpp decodes the same turns.
    chat_format = chat_format_for_model(demo_model)
    assert chat_format.assistant_suffix  # ChatML: "<|im_end|>\n"
    llm.reset()
    llm.eval(chat_ids)
    first_ids = continue_greedy(llm, REPLY_CAP, stop)
    second_turn = llm.tokenize(chat_format.format_next_user_turn(NEXT_MESSAGE).encode(), add_bos=False, special=True)
    llm.eval(second_turn)
    second_ids = continue_greedy(llm, REPLY_CAP, stop)
    first, second = (base64.b64decode(text).decode("utf-8") for text in outputs["turns"])
    assert first == llm.detokenize(first_ids).decode("utf-8", errors="replace")
    assert second == llm.detokenize(second_ids).decode("utf-8", errors="replace") and second
    # A full context is a typed error after as many turns as fit, and a new chat starts clean.
    verdict, turns, fresh = outputs["contextfull"]
    assert verdict == "ContextFullException" and 2 < int(turns) < 100
    assert base64.b64decode(fresh).decode("utf-8") == first


@pytest.mark.slow
def test_jni_bridge_loads_a_repacked_format_without_mmap(demo_model, stub_classes, tmp_path, cache_dir):
    """q4_0 goes through the bridge's no-mmap load; its ids equal llama.cpp's Python binding's."""
    project = generate("android", demo_model, tmp_path / "q4" / "DemoChat", cache_dir, quant="q4_0").path
    assert "LLAMA_USE_MMAP: Boolean = false" in next(project.rglob("ModelInfo.kt")).read_text()
    reference = TorchReference(demo_model)
    prompts = reference.prompts()
    lines = run_jni_harness(project, stub_classes, tmp_path, prompts, "Hello")
    llm = open_model(project / "llm/src/main/assets/demo-q4_0.gguf", int(CONTEXT), "q4_0")
    stop = eog_stop(llm)
    for prompt, line in zip(prompts, lines[: len(prompts)], strict=True):
        _, ids, _, generated = line.split(" ")
        prompt_ids = [int(i) for i in ids.split(",")]
        assert prompt_ids == reference.encode(prompt)
        assert [int(i) for i in generated.split(",") if i] == llama_greedy(llm, prompt_ids, GREEDY_STEPS, stop)


def test_ios_project_builds_llama_cpp_from_the_pinned_sdist(ios_project, tmp_path):
    root = ios_project.path
    assert ios_project.generation.engine.key == "llamacpp"
    package = (root / "Package.swift").read_text()
    assert 'path: "Frameworks/llama.xcframework"' in package
    script = root / "scripts/build-llama-xcframework.sh"
    text = script.read_text()
    assert toolchain.SDIST_URL in text and toolchain.SDIST_SHA256 in text
    assert script.stat().st_mode & 0o111, "the build script must be executable"
    checked = subprocess.run([tc.shellcheck(), "--severity=style", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    swift = sorted(root.rglob("*.swift"))
    assert any(p.name == "LlamaCppEngine.swift" for p in swift)
    assert [problem for path in swift for problem in tc.tree_sitter_errors(path, "swift")] == []
    assert (root / "Tests/LLMKitTests/Resources/demo-f16.gguf").is_file()
    workflow = (root / ".github/workflows/ios.yml").read_text()
    assert "scripts/build-llama-xcframework.sh" in workflow
    assert "Frameworks/" in (root / ".gitignore").read_text()


@pytest.mark.parametrize("family", ["gemma", "gemma2", "phi3"])
def test_a_family_whose_converter_needs_tokenizer_model_is_refused_up_front(family, demo_model, tmp_path, monkeypatch):
    """llama.cpp's converter reads these families' vocabulary only from tokenizer.model; with
    tokenizer.json alone it failed inside the converter (exit 5) after loading the checkpoint."""
    from test_litert import tiny_family_model

    model = tiny_family_model(family, demo_model, tmp_path / family)
    assert not (model / "tokenizer.model").exists() and (model / "tokenizer.json").is_file()
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli("convert", "--model", str(model), "--runtime", "llamacpp", "--quant", "f16", "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "tokenizer.model" in result.stderr and "--runtime litert" in result.stderr
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache").rglob("*.gguf"))
