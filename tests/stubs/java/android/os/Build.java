// Stub of android.os.Build.VERSION / VERSION_CODES (the subset generated code uses).
// Source: developer.android.com/reference/android/os/Build.VERSION_CODES (O = 26, Q = 29,
// TIRAMISU = 33). SDK_INT is read from the device at run time, so it is no compile-time constant
// here either; reading it on the host throws, as every stub body does.
package android.os;

public class Build {
    public static class VERSION {
        public static final int SDK_INT = deviceOnly();

        private static int deviceOnly() { throw new UnsupportedOperationException("stub"); }
    }

    public static class VERSION_CODES {
        public static final int O = 26;
        public static final int Q = 29;
        public static final int TIRAMISU = 33;
    }
}
