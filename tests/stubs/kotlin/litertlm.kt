// Stubs of LiteRT-LM's Kotlin API (com.google.ai.edge.litertlm, litertlm-android 0.18): Config.kt,
// Engine.kt, Conversation.kt. Names, parameter names, order and defaults as in the sources.
@file:Suppress("unused", "UNUSED_PARAMETER")

package com.google.ai.edge.litertlm

import kotlinx.coroutines.flow.Flow

sealed class Backend(val name: String) {
    data class CPU(val threadCount: Int? = null) : Backend("CPU")

    class GPU : Backend("GPU")

    data class NPU(val nativeLibraryDir: String = "") : Backend("NPU")
}

data class EngineConfig(
    val modelPath: String,
    val backend: Backend = Backend.CPU(),
    val visionBackend: Backend? = null,
    val audioBackend: Backend? = null,
    val maxNumTokens: Int? = null,
    val maxNumImages: Int? = null,
    val cacheDir: String? = null,
)

data class SamplerConfig(
    val topK: Int,
    val topP: Double,
    val temperature: Double,
    val seed: Int = 0,
)

class Contents private constructor(val contents: List<Any>) {
    override fun toString(): String = contents.joinToString("")

    companion object {
        fun of(text: String): Contents = throw UnsupportedOperationException("stub")
    }
}

class Message private constructor(val contents: Contents) {
    override fun toString(): String = contents.toString()

    companion object {
        fun user(text: String): Message = throw UnsupportedOperationException("stub")
    }
}

data class ConversationConfig(
    val systemInstruction: Contents? = null,
    val initialMessages: List<Message> = listOf(),
    val samplerConfig: SamplerConfig? = null,
    val maxOutputToken: Int? = null,
)

class Conversation private constructor() : AutoCloseable {
    val isAlive: Boolean
        get() = throw UnsupportedOperationException("stub")

    fun sendMessage(text: String): Message = throw UnsupportedOperationException("stub")

    fun sendMessageAsync(text: String): Flow<Message> = throw UnsupportedOperationException("stub")

    fun cancelProcess() {
        throw UnsupportedOperationException("stub")
    }

    override fun close() {
        throw UnsupportedOperationException("stub")
    }
}

class Engine(val engineConfig: EngineConfig) : AutoCloseable {
    fun isInitialized(): Boolean = throw UnsupportedOperationException("stub")

    fun initialize() {
        throw UnsupportedOperationException("stub")
    }

    fun createConversation(conversationConfig: ConversationConfig = ConversationConfig()): Conversation =
        throw UnsupportedOperationException("stub")

    override fun close() {
        throw UnsupportedOperationException("stub")
    }
}
