package org.pytorch.executorch;

/** Stub of ExecuTorch's EValue (executorch-android 1.5, EValue.kt): the part the SDK reads. */
public class EValue {
    private EValue() {}

    public boolean isNone() { throw new UnsupportedOperationException("stub"); }

    public boolean isTensor() { throw new UnsupportedOperationException("stub"); }

    public boolean isInt() { throw new UnsupportedOperationException("stub"); }

    public boolean isString() { throw new UnsupportedOperationException("stub"); }

    public Tensor toTensor() { throw new UnsupportedOperationException("stub"); }

    public long toInt() { throw new UnsupportedOperationException("stub"); }

    public String toStr() { throw new UnsupportedOperationException("stub"); }

    public static EValue from(long value) { throw new UnsupportedOperationException("stub"); }

    public static EValue from(String value) { throw new UnsupportedOperationException("stub"); }
}
