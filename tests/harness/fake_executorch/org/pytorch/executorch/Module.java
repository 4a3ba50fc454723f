package org.pytorch.executorch;

import java.io.Closeable;
import java.io.File;
import java.nio.charset.StandardCharsets;

/**
 * Fake of ExecuTorch's Module (executorch-android 1.5) over a `.pte` made by sdkgen's export:
 * the model file must exist; its constant methods are `sdkgen_tokenizer_json` (tokenizer.json's
 * bytes as a uint8 tensor) and `get_eos_ids` (one Int per id, as a list constant method returns).
 * The tokenizer and ids are the fixed ones of {@link #TOKENIZER_JSON} and {@link #EOS_IDS}.
 */
public class Module implements Closeable {
    public static final int LOAD_MODE_FILE = 0;
    public static final int LOAD_MODE_MMAP = 1;
    public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
    public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

    /** The end-of-sequence token's text (id 0) and the ChatML end-of-turn (id 2). */
    public static final String EOS_TEXT = "<|endoftext|>";
    public static final long[] EOS_IDS = {0L, 2L};
    public static final String TOKENIZER_JSON = "{\"version\": \"1.0\", \"added_tokens\": ["
        + "{\"id\": 0, \"content\": \"<|endoftext|>\", \"special\": true}, "
        + "{\"id\": 1, \"content\": \"<|im_start|>\", \"special\": true}, "
        + "{\"id\": 2, \"content\": \"<|im_end|>\", \"special\": true}], "
        + "\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";

    volatile boolean closed;
    volatile long generation;
    private final String path;

    private Module(String path) { this.path = path; }

    public static Module load(String modelPath) { return load(modelPath, LOAD_MODE_FILE); }

    public static Module load(String modelPath, int loadMode) { return load(modelPath, loadMode, 0); }

    public static Module load(String modelPath, int loadMode, int numThreads) {
        if (!new File(modelPath).isFile()) {
            throw new ExecutorchRuntimeException(ExecutorchRuntimeException.NOT_FOUND, "no program at " + modelPath);
        }
        FakeRecord.event("Module.load mode=" + loadMode);
        return new Module(modelPath);
    }

    private void checkOpen(String call) {
        if (closed) {
            FakeRecord.violation("Module." + call + " after close");
            throw new IllegalStateException("Module." + call + " after close");
        }
    }

    public EValue[] forward(EValue... inputs) { return execute("forward", inputs); }

    public synchronized EValue[] execute(String methodName, EValue... inputs) {
        checkOpen("execute");
        generation += 1;
        if ("sdkgen_tokenizer_json".equals(methodName)) {
            Tensor tensor = new Tensor.UInt8(TOKENIZER_JSON.getBytes(StandardCharsets.UTF_8));
            tensor.owner = this;
            tensor.generation = generation;
            return new EValue[] {EValue.from(tensor)};
        }
        if ("get_eos_ids".equals(methodName)) {
            EValue[] ids = new EValue[EOS_IDS.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = EValue.from(EOS_IDS[i]);
            }
            return ids;
        }
        throw new ExecutorchRuntimeException(ExecutorchRuntimeException.INVALID_ARGUMENT, "no method " + methodName);
    }

    public void loadMethod(String methodName) { checkOpen("loadMethod"); }

    public String[] getMethods() {
        checkOpen("getMethods");
        return new String[] {"forward", "get_eos_ids", "sdkgen_tokenizer_json"};
    }

    public void destroy() { close(); }

    @Override public void close() {
        closed = true;
        FakeRecord.event("Module.close");
    }
}
