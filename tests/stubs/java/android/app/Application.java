package android.app;

import android.content.Context;
import android.content.res.AssetManager;
import java.io.File;

public class Application extends Context {
    public Application() {}

    @Override public Object getSystemService(String name) { throw new UnsupportedOperationException("stub"); }
    @Override public File getExternalFilesDir(String type) { throw new UnsupportedOperationException("stub"); }
    @Override public File getFilesDir() { throw new UnsupportedOperationException("stub"); }
    @Override public File getCacheDir() { throw new UnsupportedOperationException("stub"); }
    @Override public AssetManager getAssets() { throw new UnsupportedOperationException("stub"); }
    @Override public Context getApplicationContext() { throw new UnsupportedOperationException("stub"); }
    @Override public String getPackageName() { throw new UnsupportedOperationException("stub"); }
    @Override public android.content.pm.ApplicationInfo getApplicationInfo() { throw new UnsupportedOperationException("stub"); }
    @Override public int checkSelfPermission(String permission) { throw new UnsupportedOperationException("stub"); }
}
