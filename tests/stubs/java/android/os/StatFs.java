package android.os;

public class StatFs {
    public StatFs(String path) {
        throw new UnsupportedOperationException("stub");
    }

    public long getAvailableBytes() {
        throw new UnsupportedOperationException("stub");
    }
}
