package org.pytorch.executorch.extension.llm;

/** ExecuTorch's LlmCallback (executorch-android 1.5), as the stub has it: onStats and onError default. */
public interface LlmCallback {
    void onResult(String result);

    default void onStats(String stats) {}

    default void onError(int errorCode, String message) {}
}
