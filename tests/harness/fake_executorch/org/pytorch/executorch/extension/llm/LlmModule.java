package org.pytorch.executorch.extension.llm;

import java.io.Closeable;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.pytorch.executorch.ExecutorchRuntimeException;
import org.pytorch.executorch.FakeRecord;
import org.pytorch.executorch.Module;

/**
 * Fake of ExecuTorch's LlmModule (executorch-android 1.5) with the text runner's behaviour
 * (extension/llm/runner/text_llm_runner.cpp, text_token_generator.h) that the engine relies on:
 *
 * - generate blocks; prompt tokens are its whitespace-separated words; each decoded token is
 *   handed to onResult ("w0 ", "w1 ", ... then the end-of-sequence text when the reply is done),
 *   one per ~5 ms; then onStats gets the runner's stats JSON and generate returns.
 * - the stop flag is volatile and checked after each token's callback; the decode loop clears it
 *   when it starts, so a stop() before the first token is lost (as upstream).
 * - the KV cache position carries over between calls (a chat); writing past the context
 *   (system property fake.executorch.context) throws INVALID_ARGUMENT, by the prompt before any
 *   token or by the reply after its text; resetContext() zeroes the position.
 * - the reply's natural length is read per call from fake.executorch.replyTokens (then EOS).
 *
 * What the real module would not survive is recorded in {@link FakeRecord}: close() while a call
 * runs on another thread, any call after close (which also throws), two calls at once.
 */
public class LlmModule implements Closeable {
    public static final int MODEL_TYPE_TEXT = 1;
    public static final int MODEL_TYPE_TEXT_VISION = 2;

    private final String modulePath;
    private final String tokenizerPath;
    private final int context;
    private volatile boolean stopRequested;
    private volatile boolean closed;
    private volatile boolean loaded;
    private final AtomicInteger inCall = new AtomicInteger();
    private volatile Thread callThread;
    private int position;

    public LlmModule(String modulePath, String tokenizerPath, float temperature) {
        this(MODEL_TYPE_TEXT, modulePath, tokenizerPath, temperature);
    }

    public LlmModule(String modulePath, String tokenizerPath, float temperature, String dataPath) {
        this(MODEL_TYPE_TEXT, modulePath, tokenizerPath, temperature);
    }

    public LlmModule(int modelType, String modulePath, String tokenizerPath, float temperature) {
        this.modulePath = modulePath;
        this.tokenizerPath = tokenizerPath;
        this.context = Integer.getInteger("fake.executorch.context", 4096);
        if (temperature < 0f || temperature > 1f) {
            FakeRecord.violation("LlmModule temperature " + temperature + " outside 0..1");
        }
        FakeRecord.event("LlmModule.new");
    }

    public LlmModule(int modelType, String modulePath, String tokenizerPath, float temperature, List<String> dataFiles) {
        this(modelType, modulePath, tokenizerPath, temperature);
    }

    /** Marks a call as running on this thread; records overlapping calls and calls after close. */
    private void enter(String call) {
        if (closed) {
            FakeRecord.violation("LlmModule." + call + " after close");
            throw new IllegalStateException("LlmModule." + call + " after close");
        }
        if (inCall.getAndIncrement() != 0) {
            FakeRecord.violation("LlmModule." + call + " while another call runs on " + callThread);
        }
        callThread = Thread.currentThread();
    }

    private void exit() {
        callThread = null;
        inCall.decrementAndGet();
    }

    public void load() {
        enter("load");
        try {
            File tokenizer = new File(tokenizerPath);
            if (!new File(modulePath).isFile() || !tokenizer.isFile()) {
                throw new ExecutorchRuntimeException(ExecutorchRuntimeException.NOT_FOUND, "model or tokenizer missing");
            }
            String json = new String(Files.readAllBytes(tokenizer.toPath()), StandardCharsets.UTF_8);
            if (!json.equals(Module.TOKENIZER_JSON) || !tokenizerPath.endsWith(".json")) {
                throw new ExecutorchRuntimeException(ExecutorchRuntimeException.INVALID_ARGUMENT, "not the .pte's tokenizer.json");
            }
            loaded = true;
        } catch (java.io.IOException error) {
            throw new ExecutorchRuntimeException(ExecutorchRuntimeException.NOT_FOUND, error.toString());
        } finally {
            exit();
        }
    }

    public void generate(String prompt, LlmCallback llmCallback) { generate(prompt, 128, llmCallback, false); }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback) { generate(prompt, seqLen, llmCallback, false); }

    public void generate(String prompt, LlmCallback llmCallback, boolean echo) { generate(prompt, 128, llmCallback, echo); }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback, boolean echo) {
        generate(prompt, seqLen, llmCallback, echo, 0.8f, 0, 0);
    }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback, boolean echo, float temperature, int numBos,
                         int numEos) {
        enter("generate");
        try {
            if (!loaded) {
                load();
            }
            String trimmed = prompt.trim();
            int promptTokens = trimmed.isEmpty() ? 0 : trimmed.split("\\s+").length;
            if (promptTokens < 1) {
                throw new ExecutorchRuntimeException(ExecutorchRuntimeException.INVALID_ARGUMENT, "empty prompt");
            }
            if (echo) {
                llmCallback.onResult(prompt);
            }
            if (position + promptTokens > context) {
                FakeRecord.event("generate threw INVALID_ARGUMENT in prefill at " + position);
                throw new ExecutorchRuntimeException(ExecutorchRuntimeException.INVALID_ARGUMENT,
                    "prefill past the KV cache: " + position + " + " + promptTokens + " > " + context);
            }
            position += promptTokens;
            int natural = Integer.getInteger("fake.executorch.replyTokens", 1_000_000);
            int generated = 0;
            stopRequested = false; // the decode loop starts: an earlier stop() is lost
            boolean stopped = false;
            while (generated < seqLen) {
                if (position >= context) {
                    FakeRecord.event("generate threw INVALID_ARGUMENT in decode at " + position + " after " + generated);
                    throw new ExecutorchRuntimeException(ExecutorchRuntimeException.INVALID_ARGUMENT,
                        "decode past the KV cache at " + position);
                }
                sleep(5);
                boolean eos = generated >= natural;
                position += 1;
                generated += 1;
                llmCallback.onResult(eos ? Module.EOS_TEXT : "w" + (generated - 1) + " ");
                if (stopRequested) {
                    stopped = true;
                    break;
                }
                if (eos) {
                    break;
                }
            }
            FakeRecord.event("generate returned " + generated + " tokens" + (stopped ? " (stopped)" : ""));
            llmCallback.onStats("{\"prompt_tokens\":" + promptTokens + ",\"generated_tokens\":" + generated
                + ",\"model_load_start_ms\":0,\"model_load_end_ms\":1,\"inference_start_ms\":1,"
                + "\"inference_end_ms\":2,\"prompt_eval_end_ms\":1,\"first_token_ms\":1,\"aggregate_sampling_time_ms\":0,"
                + "\"SCALING_FACTOR_UNITS_PER_SECOND\":1000}");
        } finally {
            exit();
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException error) {
            Thread.currentThread().interrupt();
        }
    }

    public void prefillPrompt(String prompt) { throw new UnsupportedOperationException("fake: prefillPrompt"); }

    public void resetContext() {
        enter("resetContext");
        try {
            position = 0;
        } finally {
            exit();
        }
    }

    /** Safe from any thread, as upstream (it sets the runner's stop flag). */
    public void stop() {
        if (closed) {
            FakeRecord.violation("LlmModule.stop after close");
            throw new IllegalStateException("LlmModule.stop after close");
        }
        stopRequested = true;
    }

    @Override public void close() {
        if (inCall.get() != 0) {
            FakeRecord.violation("LlmModule.close while a call runs on " + callThread);
        }
        if (closed) {
            FakeRecord.violation("LlmModule.close twice");
        }
        closed = true;
        FakeRecord.event("LlmModule.close");
    }

    /** For the harness: the KV cache position. */
    public int position() { return position; }
}
