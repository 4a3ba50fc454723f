package com.google.mediapipe.tasks.genai.llminference;

/** Partial results of an async generation (MediaPipe tasks-genai). */
public interface ProgressListener<OutputT> {
    void run(OutputT partialResult, boolean done);
}
