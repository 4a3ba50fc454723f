package org.pytorch.executorch;

/**
 * Fake of ExecuTorch's ExecutorchRuntimeException (executorch-android 1.5) for the JVM harness:
 * the same error codes (runtime/core/error.h), with the code kept so the engine can read it.
 */
public class ExecutorchRuntimeException extends RuntimeException {
    public static final int OK = 0x00;
    public static final int INTERNAL = 0x01;
    public static final int INVALID_STATE = 0x02;
    public static final int NOT_SUPPORTED = 0x10;
    public static final int INVALID_ARGUMENT = 0x12;
    public static final int NOT_FOUND = 0x20;
    public static final int MEMORY_ALLOCATION_FAILED = 0x21;
    public static final int INVALID_PROGRAM = 0x23;

    private final int errorCode;

    public ExecutorchRuntimeException(int errorCode, String details) {
        super("[Executorch Error 0x" + Integer.toHexString(errorCode) + "] " + details);
        this.errorCode = errorCode;
    }

    public int getErrorCode() { return errorCode; }
}
