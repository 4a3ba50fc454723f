// Stub of android.app.Notification and its Builder (API 36 signatures, the subset the generated
// model-download worker uses). Source: developer.android.com/reference/android/app/Notification.Builder
// (Builder(Context, String) since API 26; Builder(Context) deprecated in 26).
package android.app;

import android.content.Context;

public class Notification {
    public Notification() {}

    public static class Builder {
        public Builder(Context context, String channelId) { throw new UnsupportedOperationException("stub"); }

        @Deprecated
        public Builder(Context context) { throw new UnsupportedOperationException("stub"); }

        public Builder setSmallIcon(int icon) { throw new UnsupportedOperationException("stub"); }

        public Builder setContentTitle(CharSequence title) { throw new UnsupportedOperationException("stub"); }

        public Builder setContentText(CharSequence text) { throw new UnsupportedOperationException("stub"); }

        public Builder setProgress(int max, int progress, boolean indeterminate) { throw new UnsupportedOperationException("stub"); }

        public Builder setOngoing(boolean ongoing) { throw new UnsupportedOperationException("stub"); }

        public Builder setOnlyAlertOnce(boolean onlyAlertOnce) { throw new UnsupportedOperationException("stub"); }

        public Notification build() { throw new UnsupportedOperationException("stub"); }
    }
}
