// Stub of android.content.pm.ServiceInfo: the foreground-service type the model download runs as.
// Source: developer.android.com/reference/android/content/pm/ServiceInfo
// (FOREGROUND_SERVICE_TYPE_DATA_SYNC = 1, API 29+; manifest value "dataSync").
package android.content.pm;

public class ServiceInfo {
    public static final int FOREGROUND_SERVICE_TYPE_DATA_SYNC = 1;

    public ServiceInfo() {}
}
