// Runs the generated ExecuTorchEngine (compiled from the generated project against the API-only
// stubs) on the host JVM over behavioural fakes of ExecuTorch's LlmModule, Module, EValue and
// Tensor (tests/harness/fake_executorch, first on the classpath). One line per scenario:
//   scenario NAME PASS|FAIL|TIMEOUT MILLISms DETAIL
// A scenario that hangs prints TIMEOUT and the harness goes on; anything the real runtime would
// not survive (LlmModule closed mid-call, a call after close) fails the scenario it happened in.
import com.example.demo.llm.ChatFormat
import com.example.demo.llm.ContextFullException
import com.example.demo.llm.EngineSettings
import com.example.demo.llm.ExecuTorchEngine
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import kotlin.system.exitProcess
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.pytorch.executorch.FakeRecord

/** A scenario's check failed. */
class Failed(message: String) : Exception(message)

fun expect(condition: Boolean, message: () -> String) {
    if (!condition) {
        throw Failed(message())
    }
}

/** The pieces the fake LlmModule decodes: "w0 ", "w1 ", ... */
fun words(count: Int): String = (0 until count).joinToString("") { "w$it " }

const val LIMIT_MS = 10_000L

/** What a closed engine says to every call (ExecuTorchEngine's CLOSED). */
const val CLOSED = "This engine was closed; create a new one."

lateinit var model: File

fun engine(settings: EngineSettings): ExecuTorchEngine = ExecuTorchEngine(model, settings, ChatFormat.MODEL)

fun settings(maxTokens: Int = 4096, maxReplyTokens: Int = Int.MAX_VALUE) =
    EngineSettings(maxTokens = maxTokens, temperature = 0.0, maxReplyTokens = maxReplyTokens)

fun replyTokens(count: Int) {
    System.setProperty("fake.executorch.replyTokens", count.toString())
}

val scenarioThreads = Executors.newCachedThreadPool { task -> Thread(task, "scenario").also { it.isDaemon = true } }
var failures = 0

/**
 * Runs one scenario with a hard time limit: withTimeout inside, and a wait on its thread outside
 * for a body that blocks a thread (a hang there is a TIMEOUT too, never a stuck harness).
 */
fun scenario(name: String, body: suspend CoroutineScope.() -> String) {
    FakeRecord.takeViolations()
    FakeRecord.takeEvents()
    replyTokens(1_000_000)
    val started = System.nanoTime()
    val future = scenarioThreads.submit<Pair<String, String>> {
        runBlocking {
            try {
                val detail = withTimeout(LIMIT_MS) { body() }
                "PASS" to detail
            } catch (timeout: TimeoutCancellationException) {
                "TIMEOUT" to "no result in ${LIMIT_MS}ms"
            } catch (failed: Failed) {
                "FAIL" to (failed.message ?: "")
            } catch (error: Throwable) {
                "FAIL" to "unexpected $error"
            }
        }
    }
    var (verdict, detail) = try {
        future.get(LIMIT_MS + 5_000, TimeUnit.MILLISECONDS)
    } catch (timeout: TimeoutException) {
        future.cancel(true)
        "TIMEOUT" to "blocked a thread past ${LIMIT_MS}ms"
    }
    val violations = FakeRecord.takeViolations()
    if (violations.isNotEmpty() && verdict == "PASS") {
        verdict = "FAIL"
    }
    if (violations.isNotEmpty()) {
        detail += " violations=" + violations.joinToString("; ")
    }
    if (verdict != "PASS") {
        failures += 1
    }
    val millis = (System.nanoTime() - started) / 1_000_000
    println("scenario $name $verdict ${millis}ms " + detail.replace("\n", "\\n"))
}

/** The LlmModule was closed only after its generate call had returned (never mid-call). */
fun expectClosedAfterGenerateReturned() {
    val events = FakeRecord.takeEvents()
    expect(events.indexOfFirst { it.startsWith("generate returned") } in 0 until events.indexOf("LlmModule.close")) {
        "runner events: $events"
    }
}

/** A loaded engine, closed, then asked to [call]: what it threw (null: it did not). */
suspend fun errorAfterClose(call: suspend (ExecuTorchEngine) -> Unit): Throwable? {
    val chat = engine(settings())
    chat.load()
    chat.close()
    return try {
        call(chat)
        null
    } catch (error: Throwable) {
        error
    }
}

fun main(args: Array<String>) {
    model = File(args[0])
    val only = args.drop(1).toSet()
    fun wanted(name: String) = only.isEmpty() || name in only

    // 1. A reply streams the fake's pieces, without the end-of-sequence text, and stops at the
    //    model's end or at maxReplyTokens, whichever comes first.
    if (wanted("reply")) scenario("reply") {
        val chat = engine(settings(maxReplyTokens = 6))
        try {
            chat.load()
            expect(chat.isLoaded) { "isLoaded false after load()" }
            val tokenizer = File(model.path + ".tokenizer.json")
            expect(tokenizer.readText() == org.pytorch.executorch.Module.TOKENIZER_JSON) { "tokenizer not written beside the model" }
            val loadEvents = FakeRecord.takeEvents()
            expect("Module.close" in loadEvents) { "the .pte's Module was not closed after reading the tokenizer: $loadEvents" }
            replyTokens(3)
            val ended = chat.generate("Hello").toList()
            expect(ended.joinToString("") == words(3)) { "model's end: got $ended" }
            replyTokens(100)
            val capped = chat.generate("Again").toList()
            expect(capped.joinToString("") == words(6)) { "maxReplyTokens 6: got $capped" }
            val events = FakeRecord.takeEvents()
            // The end's text is the 4th token; the engine stops the runner at it and at the 6th.
            expect(events.size == 2 && events[0].startsWith("generate returned 4 tokens") &&
                events[1].startsWith("generate returned 6 tokens")) {
                "runner calls: $events"
            }
            "eos=" + ended.joinToString("").trim().replace(" ", ",") + " capped=" + capped.joinToString("").trim().replace(" ", ",")
        } finally {
            chat.close()
        }
    }

    // 2. A collector that stops after two pieces stops the runner; the next reply works.
    if (wanted("cancel")) scenario("cancel") {
        val chat = engine(settings(maxReplyTokens = 400))
        try {
            chat.load()
            val first = chat.generate("Hello").take(2).toList()
            expect(first.joinToString("") == words(2)) { "first two pieces: $first" }
            replyTokens(50)
            val next = chat.generate("Again").toList()
            expect(next.joinToString("") == words(50)) { "next reply: $next" }
            val events = FakeRecord.takeEvents().filter { it.startsWith("generate") }
            // Stopped by the cancel, long before the reply's cap (400 tokens, 2 s).
            val stoppedAfter = events.firstOrNull()?.let { Regex("returned (\\d+) tokens \\(stopped\\)").find(it) }
            expect(events.size == 2 && stoppedAfter != null && stoppedAfter.groupValues[1].toInt() < 400) {
                "runner calls: $events"
            }
            "first=${first.size} stopped-runner='${events[0]}' next=${next.size}"
        } finally {
            chat.close()
        }
    }

    // 3. close() from another thread while a reply streams: the collector ends promptly and the
    //    LlmModule is closed only after generate returned.
    if (wanted("close-mid-reply")) scenario("close-mid-reply") {
        val chat = engine(settings())
        chat.load()
        val firstPiece = CountDownLatch(1)
        var closedAt = 0L
        val reply = async(Dispatchers.Default) {
            val pieces = StringBuilder()
            val outcome = try {
                chat.generate("Hello").collect { piece ->
                    pieces.append(piece)
                    firstPiece.countDown()
                }
                "completed"
            } catch (error: Throwable) {
                "error ${error.javaClass.simpleName}"
            }
            Triple(outcome, pieces.toString(), (System.nanoTime() - closedAt) / 1_000_000)
        }
        expect(firstPiece.await(5, TimeUnit.SECONDS)) { "no piece within 5 s" }
        closedAt = System.nanoTime()
        chat.close()
        val closeMillis = (System.nanoTime() - closedAt) / 1_000_000
        val (outcome, text, endedAfter) = reply.await()
        expect(endedAfter < 2_000) { "collector ended ${endedAfter}ms after close()" }
        expect(text.isNotEmpty() && words(1000).startsWith(text)) { "partial reply: $text" }
        expect(!chat.isLoaded) { "isLoaded true after close()" }
        expectClosedAfterGenerateReturned()
        "collector=$outcome pieces=${text.trim().split(" ").size} close=${closeMillis}ms collector-ended=${endedAfter}ms"
    }

    // 3b. A slow collector falls behind (the Flow's buffer fills and the engine thread waits to
    //     hand on the next piece), then closes the engine from inside collect: close() waits for
    //     the engine thread, so that thread must stop waiting for the collector.
    if (wanted("close-from-slow-collector")) scenario("close-from-slow-collector") {
        val chat = engine(settings())
        chat.load()
        var closeMillis = -1L
        var pieces = 0
        val reply = async(Dispatchers.Default) {
            chat.generate("Hello").collect {
                pieces += 1
                if (pieces == 5) {
                    Thread.sleep(1_000) // ~200 tokens' time: far more than the buffer holds
                    val closing = System.nanoTime()
                    chat.close()
                    closeMillis = (System.nanoTime() - closing) / 1_000_000
                }
            }
        }
        reply.await()
        expect(closeMillis in 0 until 2_000) { "close() inside collect took ${closeMillis}ms" }
        expectClosedAfterGenerateReturned()
        "close=${closeMillis}ms pieces=$pieces"
    }

    // 4. close() between generate() and collecting its Flow: collecting fails promptly.
    if (wanted("close-before-collect")) scenario("close-before-collect") {
        val chat = engine(settings())
        chat.load()
        val flow = chat.generate("Hello")
        chat.close()
        val started = System.nanoTime()
        val error = try {
            flow.toList()
            null
        } catch (error: IllegalStateException) {
            if (error is CancellationException) {
                throw error // withTimeout's: a hang is a TIMEOUT
            }
            error
        }
        val millis = (System.nanoTime() - started) / 1_000_000
        expect(error != null && error.message == CLOSED) { "collecting ended with $error" }
        expect(millis < 2_000) { "collecting took ${millis}ms" }
        "IllegalStateException('${error!!.message}') after ${millis}ms"
    }

    // 5. A chat that outgrows the runner's KV cache: the runner's INVALID_ARGUMENT becomes
    //    ContextFullException; after reset() a new chat works.
    if (wanted("context-full")) scenario("context-full") {
        System.setProperty("fake.executorch.context", "64")
        val chat = try {
            engine(settings(maxTokens = 64, maxReplyTokens = 8)).also { it.load() }
        } finally {
            System.clearProperty("fake.executorch.context")
        }
        try {
            replyTokens(100)
            var turns = 0
            val full = try {
                while (turns < 50) {
                    val reply = chat.generate("Hello").toList()
                    expect(reply.joinToString("") == words(8)) { "turn ${turns + 1}: $reply" }
                    turns += 1
                }
                null
            } catch (error: ContextFullException) {
                error
            }
            expect(full != null) { "no ContextFullException in 50 turns" }
            val runner = FakeRecord.takeEvents().filter { it.contains("INVALID_ARGUMENT") }
            expect(runner.size == 1) { "the fake runner did not throw INVALID_ARGUMENT: $runner" }
            expect(full!!.cause is org.pytorch.executorch.ExecutorchRuntimeException) { "cause ${full.cause}" }
            chat.reset()
            val fresh = chat.generate("Hello").toList()
            expect(fresh.joinToString("") == words(8)) { "after reset: $fresh" }
            "turns=$turns then ContextFullException(used=${full.usedTokens} needed=${full.neededTokens} " +
                "context=${full.contextTokens}) from '${runner[0]}'; after reset ${fresh.size} pieces"
        } finally {
            chat.close()
        }
    }

    // 6. A closed engine refuses generate().
    if (wanted("generate-after-close")) scenario("generate-after-close") {
        val error = errorAfterClose { it.generate("Hello") }
        expect(error is IllegalStateException && error.message == CLOSED) {
            "generate() after close(): ${error ?: "returned a Flow"}"
        }
        "IllegalStateException('${error!!.message}')"
    }

    // 7. A closed engine refuses reset() with the same IllegalStateException, not a
    //    CancellationException (which a caller's coroutine would take for its own cancellation).
    if (wanted("reset-after-close")) scenario("reset-after-close") {
        val error = errorAfterClose { it.reset() }
        expect(error is IllegalStateException && error !is CancellationException && error.message == CLOSED) {
            "reset() after close() ended with $error"
        }
        "IllegalStateException('${error!!.message}')"
    }

    println("done failures=$failures")
    System.out.flush()
    exitProcess(if (failures == 0) 0 else 1)
}
