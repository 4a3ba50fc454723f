// Stub of android.content.pm.PackageManager: the permission-check result generated code compares.
// Source: developer.android.com/reference/android/content/pm/PackageManager (PERMISSION_GRANTED = 0).
package android.content.pm;

public abstract class PackageManager {
    public static final int PERMISSION_GRANTED = 0;
    public static final int PERMISSION_DENIED = -1;
}
