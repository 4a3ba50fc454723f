// Stubs of MLC LLM's Android API (ai.mlc.mlcllm in mlc4j: MLCEngine.kt, OpenAIProtocol.kt).
// Names, parameter names, order and defaults as in mlc-llm's android/mlc4j sources; the
// kotlinx.serialization annotations are left out (the stubs only type-check calls).
@file:Suppress("unused", "UNUSED_PARAMETER", "PropertyName", "ClassName", "EnumEntryName")

package ai.mlc.mlcllm

import kotlinx.coroutines.channels.ReceiveChannel

class OpenAIProtocol {
    enum class ChatCompletionRole {
        system,
        user,
        assistant,
        tool,
    }

    data class ChatCompletionMessageContent(
        val text: String? = null,
        val parts: List<Map<String, String>>? = null,
    ) {
        constructor(text: String) : this(text, null)

        fun asText(): String {
            throw UnsupportedOperationException("stub")
        }
    }

    data class ChatCompletionMessage(
        val role: ChatCompletionRole,
        var content: ChatCompletionMessageContent? = null,
        var name: String? = null,
        var tool_calls: List<Any>? = null,
        var tool_call_id: String? = null,
    ) {
        constructor(
            role: ChatCompletionRole,
            content: String,
            name: String? = null,
            tool_calls: List<Any>? = null,
            tool_call_id: String? = null,
        ) : this(role, ChatCompletionMessageContent(content), name, tool_calls, tool_call_id)
    }

    data class StreamOptions(
        val include_usage: Boolean = false,
    )

    data class CompletionUsage(
        val prompt_tokens: Int,
        val completion_tokens: Int,
        val total_tokens: Int,
    )

    data class ChatCompletionStreamResponseChoice(
        var finish_reason: String? = null,
        val index: Int,
        val delta: ChatCompletionMessage,
    )

    data class ChatCompletionStreamResponse(
        val id: String,
        var choices: List<ChatCompletionStreamResponseChoice> = listOf(),
        var created: Int? = null,
        var model: String? = null,
        val system_fingerprint: String,
        var `object`: String? = null,
        val usage: CompletionUsage? = null,
    )
}

class Completions {
    suspend fun create(
        messages: List<OpenAIProtocol.ChatCompletionMessage>,
        model: String? = null,
        frequency_penalty: Float? = null,
        presence_penalty: Float? = null,
        logprobs: Boolean = false,
        top_logprobs: Int = 0,
        logit_bias: Map<Int, Float>? = null,
        max_tokens: Int? = null,
        n: Int = 1,
        seed: Int? = null,
        stop: List<String>? = null,
        stream: Boolean = true,
        stream_options: OpenAIProtocol.StreamOptions? = null,
        temperature: Float? = null,
        top_p: Float? = null,
        tools: List<Any>? = null,
        user: String? = null,
        response_format: Any? = null,
    ): ReceiveChannel<OpenAIProtocol.ChatCompletionStreamResponse> {
        throw UnsupportedOperationException("stub")
    }
}

class Chat {
    val completions: Completions
        get() = throw UnsupportedOperationException("stub")
}

class MLCEngine {
    val chat: Chat
        get() = throw UnsupportedOperationException("stub")

    fun reload(modelPath: String, modelLib: String) {
        throw UnsupportedOperationException("stub")
    }

    fun reset() {
        throw UnsupportedOperationException("stub")
    }

    fun unload() {
        throw UnsupportedOperationException("stub")
    }
}
