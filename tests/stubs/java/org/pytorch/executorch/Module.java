package org.pytorch.executorch;

import java.io.Closeable;

/**
 * Stub of ExecuTorch's Module (executorch-android 1.5: extension/android/executorch_android/.../Module.kt,
 * a Kotlin class whose companion's load is @JvmStatic @JvmOverloads).
 */
public class Module implements Closeable {
    public static final int LOAD_MODE_FILE = 0;
    public static final int LOAD_MODE_MMAP = 1;
    public static final int LOAD_MODE_MMAP_USE_MLOCK = 2;
    public static final int LOAD_MODE_MMAP_USE_MLOCK_IGNORE_ERRORS = 3;

    private Module() {}

    public static Module load(String modelPath) { throw new UnsupportedOperationException("stub"); }

    public static Module load(String modelPath, int loadMode) { throw new UnsupportedOperationException("stub"); }

    public static Module load(String modelPath, int loadMode, int numThreads) { throw new UnsupportedOperationException("stub"); }

    public EValue[] forward(EValue... inputs) { throw new UnsupportedOperationException("stub"); }

    public EValue[] execute(String methodName, EValue... inputs) { throw new UnsupportedOperationException("stub"); }

    public void loadMethod(String methodName) { throw new UnsupportedOperationException("stub"); }

    public String[] getMethods() { throw new UnsupportedOperationException("stub"); }

    public void destroy() { throw new UnsupportedOperationException("stub"); }

    @Override public void close() { throw new UnsupportedOperationException("stub"); }
}
