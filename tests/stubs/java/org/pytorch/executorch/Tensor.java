package org.pytorch.executorch;

/**
 * Stub of ExecuTorch's Tensor (executorch-android 1.5, Tensor.kt): its `dataAs...` Kotlin
 * properties compile to these getters.
 */
public abstract class Tensor {
    Tensor() {}

    public long numel() { throw new UnsupportedOperationException("stub"); }

    public long[] shape() { throw new UnsupportedOperationException("stub"); }

    public byte[] getDataAsByteArray() { throw new UnsupportedOperationException("stub"); }

    public byte[] getDataAsUnsignedByteArray() { throw new UnsupportedOperationException("stub"); }

    public int[] getDataAsIntArray() { throw new UnsupportedOperationException("stub"); }

    public long[] getDataAsLongArray() { throw new UnsupportedOperationException("stub"); }

    public float[] getDataAsFloatArray() { throw new UnsupportedOperationException("stub"); }
}
