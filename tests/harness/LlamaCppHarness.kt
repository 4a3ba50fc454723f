// Drives the generated LlamaCppEngine (compiled from the generated project) through its JNI
// bridge on the host JVM. Reads base64 prompts, one per line; prints what the engine produced.
import com.example.demo.llm.EngineSettings
import com.example.demo.llm.LlamaCppEngine
import java.io.File
import java.util.Base64
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
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
        val generated = engine.generateTokens(ids, args[2].toInt()) { _, _ -> }
        println("ids " + ids.joinToString(",") + " generated " + generated.joinToString(","))
    }
    val chat = args[3]
    val full = runBlocking {
        engine.generate(chat).toList().joinToString("")
    }
    // A collector that stops early cancels the native loop; the engine must stay usable after.
    val firstPieces = runBlocking {
        engine.generate(chat).take(2).toList()
    }
    val again = runBlocking {
        engine.generate(chat).toList().joinToString("")
    }
    println("flow " + encode(full))
    println("cancelled " + firstPieces.size + " " + encode(firstPieces.joinToString("")))
    println("again " + encode(again))
    engine.close()
}
