// Drives the generated ModelStore (compiled from a project with download delivery) against a
// local HTTP server that honours Range requests as real servers do (206, or 416 past the end).
// args: model file, port the project's DOWNLOAD_URL names, folder for the app's files.
import android.app.HostActivityManager
import android.content.Context
import android.content.pm.ApplicationInfo
import android.content.res.AssetManager
import com.example.demo.llm.InsufficientMemoryException
import com.example.demo.llm.MemoryDecision
import com.example.demo.llm.ModelStore
import com.example.demo.llm.OnDeviceLlm
import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import kotlinx.coroutines.runBlocking

class HostContext(private val root: File, private val memory: HostActivityManager? = null) : Context() {
    override fun getSystemService(name: String?): Any? = memory
    override fun getExternalFilesDir(type: String?): File = root
    override fun getFilesDir(): File = root
    override fun getCacheDir(): File = root
    override fun getAssets(): AssetManager = throw UnsupportedOperationException("no assets on the host")
    override fun getApplicationContext(): Context = this
    override fun getPackageName(): String = "com.example.demo"
    override fun getApplicationInfo(): ApplicationInfo = ApplicationInfo().also { it.nativeLibraryDir = root.path }
    override fun checkSelfPermission(permission: String?): Int = throw UnsupportedOperationException("no permissions on the host")
}

fun main(args: Array<String>) {
    val model = File(args[0]).readBytes()
    var serveTampered = false
    val ranges = mutableListOf<String>()
    val server = HttpServer.create(InetSocketAddress("127.0.0.1", args[1].toInt()), 0)
    server.createContext("/") { exchange ->
        val body = if (serveTampered) model.copyOf().also { it[it.size / 2] = (it[it.size / 2] + 1).toByte() } else model
        val range = exchange.requestHeaders.getFirst("Range")
        if (range != null) {
            ranges.add(range)
            val start = range.removePrefix("bytes=").removeSuffix("-").toLong()
            if (start >= body.size) {
                exchange.sendResponseHeaders(416, -1)
            } else {
                val part = body.copyOfRange(start.toInt(), body.size)
                exchange.responseHeaders.add("Content-Range", "bytes $start-${body.size - 1}/${body.size}")
                exchange.sendResponseHeaders(206, part.size.toLong())
                exchange.responseBody.use { it.write(part) }
            }
        } else {
            exchange.sendResponseHeaders(200, body.size.toLong())
            exchange.responseBody.use { it.write(body) }
        }
        exchange.close()
    }
    server.start()
    val store = ModelStore(HostContext(File(args[2])))
    val target = store.modelFile
    val partial = File(target.path + ".part")

    fun attempt(): String = try {
        runBlocking { store.ensureModel() }
        "ok"
    } catch (error: Exception) {
        error.javaClass.simpleName
    }

    fun reset() {
        store.modelDirectory.listFiles()?.forEach { it.delete() }
        store.modelDirectory.mkdirs()
    }

    reset()
    println("fresh " + attempt())

    // The server sends corrupt bytes once: refused, nothing kept, and the next try starts over.
    reset()
    serveTampered = true
    val refused = attempt()
    serveTampered = false
    println("tampered " + refused + " " + partial.exists() + " " + attempt())

    // A leftover .part of full size but wrong bytes (a download killed after its last write).
    reset()
    partial.writeBytes(ByteArray(model.size))
    ranges.clear()
    println("fullpart " + attempt() + " " + ranges.size)

    // An installed file of the right size whose bytes are wrong: replaced, not an error forever.
    reset()
    target.writeBytes(ByteArray(model.size))
    println("wronginstalled " + attempt() + " " + attempt())

    // The memory gate runs before the download: a phone that cannot hold the model fetches nothing.
    reset()
    ranges.clear()
    val smallPhone = HostContext(File(args[2]), HostActivityManager(availableBytes = 1L shl 20, totalBytes = 1L shl 20))
    val refusedStages = mutableListOf<String>()
    val gate = try {
        runBlocking { OnDeviceLlm(smallPhone).prepare(onStage = { refusedStages.add(it.name) }) }
        "loaded"
    } catch (error: InsufficientMemoryException) {
        if (error.decision is MemoryDecision.TooLarge) "refused" else "other-decision"
    }
    val fetchedWhenRefused = target.exists() || partial.exists()
    // Chosen by the user: past the gate, the download runs (loading then fails in the stub runtime).
    // The store is the fetcher: the direct download in this coroutine (the default, WorkManager's
    // background download, needs a device; tests/test_android_downloads.py checks it is the default).
    val forcedStages = mutableListOf<String>()
    val forced = try {
        val llm = OnDeviceLlm(smallPhone)
        runBlocking { llm.prepare(allowInsufficientMemory = true, onStage = { forcedStages.add(it.name) }, fetcher = llm.store) }
        "loaded"
    } catch (error: InsufficientMemoryException) {
        "refused"
    } catch (error: Throwable) {
        "past-gate"
    }
    println("gate " + gate + " " + fetchedWhenRefused + " " + forced + " " + target.exists())
    // The stages a progress screen shows, in order: a refusal stops at the first memory check.
    println("stages " + refusedStages.joinToString(",") + " " + forcedStages.joinToString(","))

    // An interrupted download resumes with a Range request from where it stopped.
    reset()
    partial.writeBytes(model.copyOfRange(0, model.size / 2))
    ranges.clear()
    println("resumed " + attempt() + " " + ranges.joinToString(","))
    server.stop(0)
}
