package org.pytorch.executorch.extension.llm;

/**
 * Stub of ExecuTorch's LlmCallback (executorch-android 1.5, LlmCallback.kt, built with
 * -Xjvm-default=all, so onStats and onError are Java default methods). Upstream it is a plain
 * Kotlin interface, not a `fun interface`: implement it with an object, never a lambda.
 */
public interface LlmCallback {
    void onResult(String result);

    default void onStats(String stats) {}

    default void onError(int errorCode, String message) {}
}
