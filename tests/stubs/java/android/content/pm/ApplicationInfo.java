// Stub of android.content.pm.ApplicationInfo (API 36 signatures, the subset generated code uses).
package android.content.pm;

public class ApplicationInfo {
    public String nativeLibraryDir;

    public ApplicationInfo() {}
}
