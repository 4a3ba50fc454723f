package com.google.mediapipe.tasks.genai.llminference;

import com.google.common.util.concurrent.ListenableFuture;

/** Stub of MediaPipe's LlmInferenceSession (tasks-genai 0.10.2x signatures). */
public final class LlmInferenceSession implements AutoCloseable {
    private LlmInferenceSession() {}

    public static LlmInferenceSession createFromOptions(LlmInference llmInference, LlmInferenceSessionOptions options) {
        throw new UnsupportedOperationException("stub");
    }

    public void addQueryChunk(String inputText) { throw new UnsupportedOperationException("stub"); }

    public String generateResponse() { throw new UnsupportedOperationException("stub"); }

    public ListenableFuture<String> generateResponseAsync(ProgressListener<String> progressListener) {
        throw new UnsupportedOperationException("stub");
    }

    public void cancelGenerateResponseAsync() { throw new UnsupportedOperationException("stub"); }

    public int sizeInTokens(String text) { throw new UnsupportedOperationException("stub"); }

    @Override public void close() { throw new UnsupportedOperationException("stub"); }

    public abstract static class LlmInferenceSessionOptions {
        public abstract static class Builder {
            public abstract Builder setTopK(int topK);

            public abstract Builder setTopP(float topP);

            public abstract Builder setTemperature(float temperature);

            public abstract Builder setRandomSeed(int randomSeed);

            public final LlmInferenceSessionOptions build() { throw new UnsupportedOperationException("stub"); }
        }

        public static Builder builder() { throw new UnsupportedOperationException("stub"); }
    }
}
