package org.pytorch.executorch;

/**
 * Fake of ExecuTorch's Tensor (executorch-android 1.5). An output tensor's data is the runtime's
 * own memory, valid only until the module's next call: reading it later throws here, so a caller
 * that does not copy it out at once is caught.
 */
public abstract class Tensor {
    Tensor() {}

    /** Set by the module that returned this tensor; the module bumps its generation on each call. */
    Module owner;
    long generation;

    void checkValid() {
        if (owner != null && owner.generation != generation) {
            FakeRecord.violation("Tensor data read after the module's next call (output memory is reused)");
            throw new IllegalStateException("output tensor read after the next call");
        }
        if (owner != null && owner.closed) {
            FakeRecord.violation("Tensor data read after Module.close()");
            throw new IllegalStateException("output tensor read after close");
        }
    }

    public long numel() { return shape()[0]; }

    public long[] shape() { throw new UnsupportedOperationException("fake: shape"); }

    public byte[] getDataAsByteArray() { throw new IllegalStateException("fake: not an int8 tensor"); }

    public byte[] getDataAsUnsignedByteArray() { throw new IllegalStateException("fake: not a uint8 tensor"); }

    public int[] getDataAsIntArray() { throw new IllegalStateException("fake: not an int32 tensor"); }

    public long[] getDataAsLongArray() { throw new IllegalStateException("fake: not an int64 tensor"); }

    public float[] getDataAsFloatArray() { throw new IllegalStateException("fake: not a float tensor"); }

    static final class UInt8 extends Tensor {
        private final byte[] data;

        UInt8(byte[] data) { this.data = data.clone(); }

        @Override public long[] shape() { return new long[] {data.length}; }

        @Override public byte[] getDataAsUnsignedByteArray() {
            checkValid();
            return data.clone();
        }
    }

    static final class Int64 extends Tensor {
        private final long[] data;

        Int64(long[] data) { this.data = data.clone(); }

        @Override public long[] shape() { return new long[] {data.length}; }

        @Override public long[] getDataAsLongArray() {
            checkValid();
            return data.clone();
        }
    }
}
