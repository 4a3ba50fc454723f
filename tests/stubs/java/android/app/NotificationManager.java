// Stub of android.app.NotificationManager (API 36 signatures, the subset generated code uses).
// Source: developer.android.com/reference/android/app/NotificationManager (IMPORTANCE_LOW = 2).
package android.app;

public class NotificationManager {
    public static final int IMPORTANCE_LOW = 2;

    public void createNotificationChannel(NotificationChannel channel) { throw new UnsupportedOperationException("stub"); }

    public void notify(int id, Notification notification) { throw new UnsupportedOperationException("stub"); }
}
