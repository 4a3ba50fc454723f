package org.pytorch.executorch.extension.llm;

import java.io.Closeable;
import java.util.List;

/**
 * Stub of ExecuTorch's LlmModule (executorch-android 1.5, LlmModule.kt): the text constructors,
 * the generate overloads, stop, resetContext, load and close. generate blocks until the reply
 * ends and throws ExecutorchRuntimeException on failure; load returns nothing and throws.
 */
public class LlmModule implements Closeable {
    public static final int MODEL_TYPE_TEXT = 1;
    public static final int MODEL_TYPE_TEXT_VISION = 2;

    public LlmModule(String modulePath, String tokenizerPath, float temperature) {
        throw new UnsupportedOperationException("stub");
    }

    public LlmModule(String modulePath, String tokenizerPath, float temperature, String dataPath) {
        throw new UnsupportedOperationException("stub");
    }

    public LlmModule(int modelType, String modulePath, String tokenizerPath, float temperature) {
        throw new UnsupportedOperationException("stub");
    }

    public LlmModule(int modelType, String modulePath, String tokenizerPath, float temperature, List<String> dataFiles) {
        throw new UnsupportedOperationException("stub");
    }

    public void generate(String prompt, LlmCallback llmCallback) { throw new UnsupportedOperationException("stub"); }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback) { throw new UnsupportedOperationException("stub"); }

    public void generate(String prompt, LlmCallback llmCallback, boolean echo) { throw new UnsupportedOperationException("stub"); }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback, boolean echo) {
        throw new UnsupportedOperationException("stub");
    }

    public void generate(String prompt, int seqLen, LlmCallback llmCallback, boolean echo, float temperature, int numBos,
                         int numEos) {
        throw new UnsupportedOperationException("stub");
    }

    public void prefillPrompt(String prompt) { throw new UnsupportedOperationException("stub"); }

    public void resetContext() { throw new UnsupportedOperationException("stub"); }

    public void stop() { throw new UnsupportedOperationException("stub"); }

    public void load() { throw new UnsupportedOperationException("stub"); }

    @Override public void close() { throw new UnsupportedOperationException("stub"); }
}
