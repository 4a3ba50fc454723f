// Drives the download step of the generated ModelDownloadWorker (ModelDownloadStep: one WorkManager
// attempt, minus WorkManager) against a local HTTP server, and checks which outcome each failure
// maps to: Retry keeps the bytes for the next attempt, Failed is final. Compiled with
// ModelStoreHarness.kt (HostContext) against a project with download delivery.
// args: model file, port the project's DOWNLOAD_URL names, folder for the app's files.
import com.example.demo.llm.DownloadOutcome
import com.example.demo.llm.ModelDownloadState
import com.example.demo.llm.ModelDownloadStep
import com.example.demo.llm.ModelDownloads
import com.example.demo.llm.ModelStore
import com.example.demo.llm.OnDeviceLlm
import androidx.work.WorkInfo
import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import kotlinx.coroutines.runBlocking

fun describe(outcome: DownloadOutcome): String = when (outcome) {
    is DownloadOutcome.Done -> "done"
    is DownloadOutcome.Retry -> "retry"
    is DownloadOutcome.Failed -> "failed"
}

fun main(args: Array<String>) {
    val model = File(args[0]).readBytes()
    // What the server does with the next request: "ok", "cut" (half the body, then the connection
    // closes), "tampered" (one byte changed), or an HTTP status to answer with.
    var mode = "ok"
    val ranges = mutableListOf<String>()
    val server = HttpServer.create(InetSocketAddress("127.0.0.1", args[1].toInt()), 0)
    server.createContext("/") { exchange ->
        val range = exchange.requestHeaders.getFirst("Range")
        val start = range?.removePrefix("bytes=")?.removeSuffix("-")?.toInt() ?: 0
        if (range != null) {
            ranges.add(range)
        }
        val status = mode.toIntOrNull()
        when {
            status != null -> exchange.sendResponseHeaders(status, -1)
            else -> {
                val body = if (mode == "tampered") model.copyOf().also { it[it.size / 2] = (it[it.size / 2] + 1).toByte() } else model
                val part = body.copyOfRange(start, body.size)
                if (range != null) {
                    exchange.responseHeaders.add("Content-Range", "bytes $start-${body.size - 1}/${body.size}")
                }
                exchange.sendResponseHeaders(if (range != null) 206 else 200, part.size.toLong())
                val sent = if (mode == "cut") part.size / 2 else part.size
                exchange.responseBody.write(part, 0, sent)
                exchange.responseBody.flush()
            }
        }
        try {
            exchange.close()
        } catch (short: java.io.IOException) {
            // "cut": fewer bytes than the Content-Length promised; the connection just closes.
        }
    }
    server.start()
    val context = HostContext(File(args[2]))
    val store = ModelStore(context)
    val partial = File(store.modelFile.path + ".part")
    val step = ModelDownloadStep(store)

    fun attempt(number: Int): String {
        val outcome = runBlocking { step.run(number) { _, _ -> } }
        return describe(outcome)
    }

    fun reset() {
        store.modelDirectory.listFiles()?.forEach { it.delete() }
        store.modelDirectory.mkdirs()
        ranges.clear()
    }

    reset()
    mode = "ok"
    println("fresh " + attempt(0) + " " + store.modelFile.exists())

    // The connection drops half way: retry, keeping the bytes; the next attempt resumes and finishes.
    reset()
    mode = "cut"
    val cut = attempt(0)
    val kept = partial.length()
    mode = "ok"
    println("cut " + cut + " " + kept + " " + attempt(1) + " " + ranges.joinToString(","))

    // Wrong bytes from the server: final, and nothing kept for a later attempt to resume from.
    reset()
    mode = "tampered"
    println("tampered " + attempt(0) + " " + partial.exists() + " " + store.modelFile.exists())

    // A file the server does not have will not appear on a retry; a busy server may recover.
    reset()
    mode = "404"
    println("missing " + attempt(0))
    mode = "503"
    println("busy " + attempt(0) + " " + attempt(ModelDownloadStep.MAX_ATTEMPTS - 1))
    mode = "ok"

    // WorkManager's states, as a progress screen sees them.
    println(
        "states " + listOf(
            ModelDownloads.stateOf(WorkInfo.State.ENQUEUED, 0L, 10L, null),
            ModelDownloads.stateOf(WorkInfo.State.RUNNING, 4L, 10L, null),
            ModelDownloads.stateOf(WorkInfo.State.FAILED, 0L, 10L, "boom"),
            ModelDownloads.stateOf(WorkInfo.State.SUCCEEDED, 10L, 10L, null),
            ModelDownloads.stateOf(WorkInfo.State.CANCELLED, 0L, 10L, null),
            ModelDownloads.stateOf(emptyList()),
        ).joinToString(",") { state ->
            when (state) {
                is ModelDownloadState.Running -> "running:${state.copiedBytes}/${state.totalBytes}"
                is ModelDownloadState.Failed -> "failed:${state.message}"
                else -> state.toString().lowercase()
            }
        },
    )

    // prepare()'s default fetcher in a download project is WorkManager's (a stub here, so it throws
    // from androidx.work), and nothing is downloaded in this coroutine.
    reset()
    val viaDefault = try {
        runBlocking { OnDeviceLlm(context).prepare(allowInsufficientMemory = true) }
        "loaded"
    } catch (error: Throwable) {
        if (error.stackTrace.any { it.className.startsWith("androidx.work.") }) "workmanager" else "other:" + error
    }
    println("default " + viaDefault + " " + (store.modelFile.exists() || partial.exists()) + " " + ranges.size)
    server.stop(0)
}
