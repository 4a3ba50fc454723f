// Drives the generated LlamaCppEngine (compiled from the generated project) through its JNI
// bridge on the host JVM. Reads base64 prompts, one per line; prints what the engine produced.
import com.example.demo.llm.ContextFullException
import com.example.demo.llm.EngineSettings
import com.example.demo.llm.LlamaCppEngine
import java.io.File
import java.util.Base64
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.collect
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

fun encode(text: String): String {
    return Base64.getEncoder().encodeToString(text.toByteArray(Charsets.UTF_8))
}

fun main(args: Array<String>) {
    val settings = EngineSettings(maxTokens = 256, useGpu = false, cpuThreads = 2, topK = 1, temperature = 0.0)
    val engine = LlamaCppEngine(File(args[0]), settings)
    runBlocking {
        engine.load()
    }
    for (line in File(args[1]).readLines()) {
        val prompt = String(Base64.getDecoder().decode(line), Charsets.UTF_8)
        val ids = engine.tokenize(prompt)
        val generated = engine.generateTokens(ids, args[2].toInt()) { _, _ -> true }
        println("ids " + ids.joinToString(",") + " generated " + generated.joinToString(","))
    }
    val chat = args[3]
    val full = runBlocking {
        engine.generate(chat).toList().joinToString("")
    }
    // A collector that stops early cancels the native loop; the engine must stay usable after.
    val firstPieces = runBlocking {
        engine.reset()
        engine.generate(chat).take(2).toList()
    }
    val again = runBlocking {
        engine.reset()
        engine.generate(chat).toList().joinToString("")
    }
    println("flow " + encode(full))
    println("cancelled " + firstPieces.size + " " + encode(firstPieces.joinToString("")))
    println("again " + encode(again))

    // A collector far slower than the model: every piece still arrives (no buffer overflows).
    val slow = runBlocking {
        engine.reset()
        engine.generate(chat).onEach { Thread.sleep(15) }.toList().joinToString("")
    }
    println("slow " + encode(slow))

    // Stop, then send at once (what a quick user does): the new reply must not overlap the old one.
    val resent = runBlocking {
        engine.reset()
        val started = CountDownLatch(1)
        val first = launch(Dispatchers.Default) {
            engine.generate(chat).collect { started.countDown() }
        }
        started.await(60, TimeUnit.SECONDS)
        engine.cancel()
        first.cancel()
        engine.reset() // queued behind the stopped reply, then a new chat
        engine.generate(chat).toList().joinToString("")
    }
    println("resent " + encode(resent))

    // A chat: each reply stays in the conversation and the next message follows it; when the
    // context is full, a typed error says so, and a new chat works again.
    val chatty = LlamaCppEngine(File(args[0]), settings.copy(maxReplyTokens = args[5].toInt()))
    runBlocking {
        chatty.load()
        val first = chatty.generate(chat).toList().joinToString("")
        val second = chatty.generate(args[4]).toList().joinToString("")
        println("turns " + encode(first) + " " + encode(second))
        var turns = 2
        val full = try {
            while (turns < 100) {
                chatty.generate(args[4]).toList()
                turns += 1
            }
            "never"
        } catch (error: ContextFullException) {
            "ContextFullException"
        }
        chatty.reset()
        val fresh = chatty.generate(chat).toList().joinToString("")
        println("contextfull " + full + " " + turns + " " + encode(fresh))
    }
    chatty.close()

    // Close while a reply streams (the screen goes away mid-reply): close waits for the native
    // loop to stop, then frees; nothing crashes, and the engine refuses further use.
    val closing = runBlocking {
        engine.reset()
        val started = CountDownLatch(1)
        val reply = async(Dispatchers.Default) {
            val pieces = StringBuilder()
            try {
                engine.generate(chat).collect { piece ->
                    pieces.append(piece)
                    started.countDown()
                    Thread.sleep(5)
                }
            } catch (error: CancellationException) {
            }
            pieces.toString()
        }
        started.await(60, TimeUnit.SECONDS)
        engine.close()
        reply.await()
    }
    val refused = try {
        engine.generate(chat)
        "no"
    } catch (error: IllegalStateException) {
        "yes"
    }
    println("closed " + refused + " " + encode(closing))
}
