package android.util;

public final class Log {
    private Log() {}

    public static int i(String tag, String msg) { throw new UnsupportedOperationException("stub"); }

    public static int w(String tag, String msg) { throw new UnsupportedOperationException("stub"); }

    public static int e(String tag, String msg, Throwable tr) { throw new UnsupportedOperationException("stub"); }
}
