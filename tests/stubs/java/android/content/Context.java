// Stub of android.content.Context (API 36 signatures, the subset generated code uses).
package android.content;

import android.content.pm.ApplicationInfo;
import android.content.res.AssetManager;
import java.io.File;

public abstract class Context {
    public static final String ACTIVITY_SERVICE = "activity";
    public static final String NOTIFICATION_SERVICE = "notification";

    public abstract Object getSystemService(String name);

    public abstract File getExternalFilesDir(String type);

    public abstract File getFilesDir();

    public abstract File getCacheDir();

    public abstract AssetManager getAssets();

    public abstract Context getApplicationContext();

    public abstract String getPackageName();

    public abstract ApplicationInfo getApplicationInfo();

    public abstract int checkSelfPermission(String permission);
}
