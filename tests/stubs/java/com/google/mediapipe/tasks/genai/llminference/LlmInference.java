package com.google.mediapipe.tasks.genai.llminference;

import android.content.Context;
import com.google.common.util.concurrent.ListenableFuture;

/** Stub of MediaPipe's LlmInference (tasks-genai 0.10.2x signatures). */
public class LlmInference implements AutoCloseable {
    public enum Backend {
        DEFAULT,
        CPU,
        GPU
    }

    LlmInference() {}

    public static LlmInference createFromOptions(Context context, LlmInferenceOptions options) {
        throw new UnsupportedOperationException("stub");
    }

    public String generateResponse(String inputText) { throw new UnsupportedOperationException("stub"); }

    public ListenableFuture<String> generateResponseAsync(String inputText, ProgressListener<String> progressListener) {
        throw new UnsupportedOperationException("stub");
    }

    public int sizeInTokens(String text) { throw new UnsupportedOperationException("stub"); }

    @Override public void close() { throw new UnsupportedOperationException("stub"); }

    public abstract static class LlmInferenceOptions {
        public abstract static class Builder {
            public abstract Builder setModelPath(String modelPath);

            public abstract Builder setMaxTokens(int maxTokens);

            public abstract Builder setMaxTopK(int maxTopK);

            public abstract Builder setPreferredBackend(Backend preferredBackend);

            public final LlmInferenceOptions build() { throw new UnsupportedOperationException("stub"); }
        }

        public static Builder builder() { throw new UnsupportedOperationException("stub"); }
    }
}
