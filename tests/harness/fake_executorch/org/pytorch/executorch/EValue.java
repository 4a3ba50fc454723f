package org.pytorch.executorch;

/** Fake of ExecuTorch's EValue (executorch-android 1.5): None, Int, String or Tensor. */
public class EValue {
    private final Object value;

    private EValue(Object value) { this.value = value; }

    public boolean isNone() { return value == null; }

    public boolean isTensor() { return value instanceof Tensor; }

    public boolean isInt() { return value instanceof Long; }

    public boolean isString() { return value instanceof String; }

    public Tensor toTensor() {
        if (!isTensor()) throw new IllegalStateException("EValue is not a Tensor");
        return (Tensor) value;
    }

    public long toInt() {
        if (!isInt()) throw new IllegalStateException("EValue is not an Int");
        return (Long) value;
    }

    public String toStr() {
        if (!isString()) throw new IllegalStateException("EValue is not a String");
        return (String) value;
    }

    public static EValue from(long value) { return new EValue(value); }

    public static EValue from(String value) { return new EValue(value); }

    static EValue from(Tensor value) { return new EValue(value); }
}
