"""`sdkgen web --runtime litert`: the `.task` bundle in MediaPipe's LLM Inference for the web, the
WebGPU option. The generated app is installed from its lockfile, built, served on 127.0.0.1 and
driven in Debian's headless Chromium with SwiftShader's WebGPU adapter (no GPU here), against
PyTorch running the same fp16 weights."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from sdk_gen import pins
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project
from test_web import _npm, _serve, drive, run_project_playwright_test

PROMPT = "Hello, my name is"
# LiteRT's shortest context (its prefill length): MediaPipe's web runtime cannot stop a reply early
# (see MediaPipeLlmEngine.ts), so a short context keeps every request short.
CONTEXT = 128


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory):
    conversion = ConversionRequest(model=str(demo_model), profile="chrome-desktop", runtime="litert", quant="f16",
                                   artifact_format="task", context=CONTEXT, cache_dir=tmp_path_factory.mktemp("mp-cache"))
    out = tmp_path_factory.mktemp("web-mediapipe") / "demo-chat"
    return generate_project(ProjectRequest("web", conversion, ProjectOptions(app_id="demo-chat"), out))


@pytest.fixture(scope="module")
def site(project):
    _npm(["ci"], project.path)
    _npm(["run", "build"], project.path)
    server = _serve(project.path / "dist")
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def pytorch_text(project):
    """PyTorch's greedy reply to a prompt, with the fp16-rounded weights the .task stores, decoded by
    the model's own tokenizer; it stops where MediaPipe stops (an end token, or the context's end)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = project.conversion.job.model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.copy_(param.half().float())

    def greedy(prompt: str, steps: int) -> str:
        ids = tokenizer(prompt, add_special_tokens=False).input_ids
        out: list[int] = []
        with torch.no_grad():
            while len(out) < steps:
                token = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
                if token == tokenizer.eos_token_id:
                    break
                out.append(token)
        return tokenizer.decode(out)

    return greedy


def test_the_web_takes_mediapipe_only_when_asked_and_only_for_a_task(demo_model):
    auto = json.loads(run_cli("plan", "--model", str(demo_model), "--profile", "chrome-desktop", "--json").stdout)
    assert auto["plan"]["runtime"] == "llamacpp"  # WebGPU is an option, not the default
    asked = json.loads(run_cli("plan", "--model", str(demo_model), "--profile", "chrome-desktop", "--runtime", "litert",
                               "--json").stdout)
    assert asked["plan"]["runtime"] == "litert" and asked["plan"]["backend"] == "gpu"
    cpu = run_cli("plan", "--model", str(demo_model), "--profile", "chrome-desktop", "--runtime", "litert", "--backend", "cpu")
    assert cpu.code == 2 and "no cpu backend on web" in cpu.stderr


def test_the_project_pins_mediapipe_and_its_lockfile_agrees(project):
    root = project.path
    package = json.loads((root / "package.json").read_text())
    assert package["dependencies"]["@mediapipe/tasks-genai"] == pins.MEDIAPIPE_WEB
    assert "@wllama/wllama" not in package["dependencies"]
    lock = json.loads((root / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"]["node_modules/@mediapipe/tasks-genai"]["version"] == pins.MEDIAPIPE_WEB
    assert (root / "public/models/demo-f16.task").read_bytes() == project.conversion.artifact.path.read_bytes()
    engine = (root / "src/sdk/MediaPipeLlmEngine.ts").read_text()
    assert "|im_start|\\u003euser\\n" in engine  # the model's chat turns, from its template (<> escaped)
    assert "--enable-unsafe-webgpu" in (root / "playwright.config.ts").read_text()
    assert "incompleteUtf8Tokens" in (root / "e2e/chat.spec.ts").read_text()


def test_the_page_writes_what_pytorch_writes_streamed_whole_and_after_a_stop(project, site, pytorch_text):
    from transformers import AutoTokenizer

    greedy = {"temperature": 0, "topK": 1, "contextTokens": CONTEXT}
    results = drive(project.path, site, [
        {"do": "env"},
        {"do": "prepare", "storage": "opfs", "settings": greedy},
        {"do": "generate", "prompt": PROMPT, "maxTokens": 24, "stream": True},
        {"do": "generate", "prompt": PROMPT, "maxTokens": 24, "stream": False},
        {"do": "cancel", "prompt": PROMPT, "afterTokens": 5, "maxTokens": 64},
        {"do": "generate", "prompt": PROMPT, "maxTokens": 500, "stream": True},
        {"do": "generate", "prompt": PROMPT, "maxTokens": 8, "temperature": 0.8},
    ], webgpu=True)
    env, prepared, streamed, whole, cancelled, to_the_end, resampled = results
    assert env["ok"] and prepared["ok"] and prepared["prepared"], prepared
    assert prepared["sha256"] == project.conversion.artifact.sha256
    assert prepared["chatTemplate"] == "<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n"
    # Twenty-four tokens, streamed one by one, the same text as PyTorch's and as a whole reply.
    assert streamed["ok"] and streamed["pieces"] == 24 and streamed["finishReason"] == "length", streamed
    assert streamed["streamedText"] == streamed["text"] == pytorch_text(PROMPT, 24)
    assert whole["text"] == streamed["text"] and whole["ids"] == []  # MediaPipe's web API gives no ids
    # Stop after five tokens: the reply ends there; the runtime finished it unseen, and the next
    # request runs after it and writes the same text again.
    assert cancelled["finishReason"] == "cancelled" and cancelled["pieces"] == 5, cancelled
    assert streamed["text"].startswith(cancelled["text"])
    # To the context's end: every token PyTorch writes until the prompt and reply fill it.
    # To the context's end: MediaPipe opens with the .task's start token, then the prompt, then the
    # reply fills the rest; every token of it is PyTorch's.
    prompt_tokens = len(AutoTokenizer.from_pretrained(project.conversion.job.model_dir)(PROMPT, add_special_tokens=False).input_ids)
    assert to_the_end["finishReason"] == "length" and to_the_end["pieces"] == CONTEXT - 1 - prompt_tokens, to_the_end
    assert to_the_end["text"] == pytorch_text(PROMPT, to_the_end["pieces"]) and to_the_end["text"].startswith(streamed["text"])
    # Sampling is fixed at load: another setting is refused with a sentence, not silently ignored.
    assert not resampled["ok"] and "samples as it was loaded" in resampled["error"], resampled


def test_the_chat_page_after_a_reply(project, site, tmp_path):
    from PIL import Image, ImageStat

    shot = tmp_path / "chat.png"
    loaded, sent, _ = drive(project.path, site, [
        {"do": "ui-load"},
        {"do": "ui-send", "message": "Hello", "maxTokens": 16, "greedy": False},
        {"do": "screenshot", "path": str(shot)},
    ], webgpu=True)
    assert loaded["state"] == "ready" and loaded["sendEnabled"], loaded
    assert sent["reply"] and sent["reply"].strip() and sent["finish"] == "length", sent
    with Image.open(shot) as image:
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 5, "the screenshot is blank"


def test_a_browser_without_a_webgpu_adapter_is_told_before_any_download(project, site):
    (refused,) = drive(project.path, site, [{"do": "prepare", "storage": "none"}])  # Chromium with --disable-gpu
    assert refused["prepared"] is False and refused["error"]["name"] == "UnsupportedBrowserError", refused
    assert "no GPU adapter" in refused["error"]["message"] and refused["stages"] == [], refused


@pytest.mark.slow
def test_the_generated_playwright_test_passes(project, site):
    """The project's own `npm test` (its CI job), on Chromium's software WebGPU adapter."""
    run_project_playwright_test(project.path)
