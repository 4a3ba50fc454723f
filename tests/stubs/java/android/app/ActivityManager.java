package android.app;

public class ActivityManager {
    ActivityManager() {}

    public void getMemoryInfo(MemoryInfo outInfo) {
        throw new UnsupportedOperationException("stub");
    }

    public static class MemoryInfo {
        public long availMem;
        public long totalMem;
        public long threshold;
        public boolean lowMemory;

        public MemoryInfo() {}
    }
}
