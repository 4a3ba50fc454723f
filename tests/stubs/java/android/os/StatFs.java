// Stub of android.os.StatFs (API 36 signatures, the subset generated code uses). On the host it
// answers from java.io.File, so the generated ModelStore can run in JVM tests.
package android.os;

import java.io.File;

public class StatFs {
    private final File path;

    public StatFs(String path) {
        this.path = new File(path);
    }

    public long getAvailableBytes() {
        return path.getUsableSpace();
    }
}
