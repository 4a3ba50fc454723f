// Stub of android.Manifest.permission (the subset generated code requests at run time).
// Source: developer.android.com/reference/android/Manifest.permission#POST_NOTIFICATIONS (API 33).
package android;

public final class Manifest {
    public static final class permission {
        public static final String POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS";
    }
}
