// An ActivityManager whose memory report the host test chooses. It lives in android.app because
// the framework's constructor is package-private there, as in the stub.
package android.app

class HostActivityManager(private val availableBytes: Long, private val totalBytes: Long) : ActivityManager() {
    override fun getMemoryInfo(outInfo: ActivityManager.MemoryInfo) {
        outInfo.availMem = availableBytes
        outInfo.totalMem = totalBytes
        outInfo.threshold = 0L
        outInfo.lowMemory = false
    }
}
