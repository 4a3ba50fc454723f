// Stub of android.app.NotificationChannel (API 26+; the subset generated code uses).
// Source: developer.android.com/reference/android/app/NotificationChannel
package android.app;

public final class NotificationChannel {
    public NotificationChannel(String id, CharSequence name, int importance) { throw new UnsupportedOperationException("stub"); }

    public void setDescription(String description) { throw new UnsupportedOperationException("stub"); }
}
