// Stub of LiteRT-LM's Swift API (product "LiteRTLM"), for type-checking generated code on Linux.
// Signatures read from google-ai-edge/LiteRT-LM swift/{Config,Engine,Conversation}.swift at commit
// 02ce216c5f84995443968a93776197af7a82f475 (after v0.17.0; the v0.18.0 Package.swift pins the
// v0.18.0 CLiteRTLM binaries, the release sdkgen pins with `exact: "0.18.0"`) and swift/MessageTests.swift.
// Conversation.cancel() is `throws` in every published version; Conversation.close() is newer than
// some of them, so it is left out here: generated code must not rely on it.
import Foundation

public enum Backend: Equatable, Hashable, Sendable {
    case cpu(threadCount: Int? = nil)
    case gpu

    public var rawValue: String {
        switch self {
        case .cpu: return "cpu"
        case .gpu: return "gpu"
        }
    }
}

public struct EngineConfig: Hashable, Sendable {
    public let modelPath: String
    public let backend: Backend
    public let visionBackend: Backend?
    public let audioBackend: Backend?
    public let maxNumTokens: Int?
    public let cacheDir: String?

    public init(
        modelPath: String, backend: Backend = .cpu(), visionBackend: Backend? = nil,
        audioBackend: Backend? = nil, maxNumTokens: Int? = nil, cacheDir: String? = nil
    ) throws {
        self.modelPath = modelPath
        self.backend = backend
        self.visionBackend = visionBackend
        self.audioBackend = audioBackend
        self.maxNumTokens = maxNumTokens
        self.cacheDir = cacheDir
    }
}

public struct SamplerConfig {
    public let topK: Int
    public let topP: Float
    public let temperature: Float
    public let seed: Int

    public init(topK: Int, topP: Float, temperature: Float, seed: Int = 0) throws {
        self.topK = topK
        self.topP = topP
        self.temperature = temperature
        self.seed = seed
    }
}

public enum Role: String, Sendable {
    case system
    case user
    case model
    case tool
}

public struct Message {
    public let role: Role
    public let toString: String

    public init(_ text: String, role: Role = .user) {
        self.role = role
        self.toString = text
    }
}

public struct ConversationConfig {
    public let systemMessage: Message?
    public let initialMessages: [Message]
    public let samplerConfig: SamplerConfig?

    public init(systemMessage: Message? = nil, initialMessages: [Message] = [], samplerConfig: SamplerConfig? = nil) {
        self.systemMessage = systemMessage
        self.initialMessages = initialMessages
        self.samplerConfig = samplerConfig
    }
}

public final class Conversation: Sendable {
    public var isAlive: Bool { fatalError("LiteRTLM stub") }

    init() {}

    public func sendMessage(_ message: Message, extraContext: [String: Any]? = nil) async throws -> Message {
        fatalError("LiteRTLM stub")
    }

    public func sendMessageStream(_ message: Message, extraContext: [String: Any]? = nil) -> AsyncThrowingStream<Message, Error> {
        fatalError("LiteRTLM stub")
    }

    public func cancel() throws {
        fatalError("LiteRTLM stub")
    }
}

public actor Engine {
    public let engineConfig: EngineConfig

    public init(engineConfig: EngineConfig) {
        self.engineConfig = engineConfig
    }

    public func isInitialized() -> Bool { fatalError("LiteRTLM stub") }

    public func initialize() throws {
        fatalError("LiteRTLM stub")
    }

    public func createConversation(with config: ConversationConfig? = nil) throws -> Conversation {
        fatalError("LiteRTLM stub")
    }
}
