// Stub of android.R.drawable: the platform icon the model-download notification shows.
// Source: developer.android.com/reference/android/R.drawable#stat_sys_download (0x01080081).
package android;

public final class R {
    public static final class drawable {
        public static final int stat_sys_download = 0x01080081;
    }
}
