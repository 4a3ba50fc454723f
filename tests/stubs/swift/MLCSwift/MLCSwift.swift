// Stub of MLC LLM's Swift API (ios/MLCSwift, module MLCSwift), for type-checking on Linux.
// Signatures read from mlc-ai/mlc-llm commit 79d603f085f50500e9509fa01785ffa7ecfaaa93 (2026-07-23, after
// v0.20.0), ios/MLCSwift/Sources/Swift/LLMEngine.swift and OpenAIProtocol.swift. sdkgen builds the
// app against the mlc-llm source that compiled the model library (scripts/mlc-package.sh), so the
// API is the one of that checkout; this is the current one.
import Foundation

public enum ChatCompletionRole: String, Codable {
    case system
    case user
    case assistant
    case tool
}

public enum ChatCompletionMessageContent: Codable {
    case text(String)
    case parts([[String: String]])

    public func asText() -> String {
        switch self {
        case let .text(text): return text
        case let .parts(parts): return parts.compactMap { $0["text"] }.joined()
        }
    }
}

public struct ChatCompletionMessage: Codable {
    public var role: ChatCompletionRole
    public var content: ChatCompletionMessageContent?
    public var name: String?

    public init(role: ChatCompletionRole, content: String, name: String? = nil) {
        self.role = role
        self.content = .text(content)
        self.name = name
    }
}

public struct ChatCompletionStreamResponseChoice: Codable {
    public var finish_reason: String?
    public var index: Int
    public var delta: ChatCompletionMessage
}

public struct ChatCompletionStreamResponse: Codable {
    public var id: String
    public var choices: [ChatCompletionStreamResponseChoice] = []
    public var system_fingerprint: String
}

public struct StreamOptions: Codable {
    public var include_usage: Bool = false

    public init(include_usage: Bool) {
        self.include_usage = include_usage
    }
}

public class MLCEngine {
    public class Completions {
        public func create(
            messages: [ChatCompletionMessage],
            model: String? = nil,
            frequency_penalty: Float? = nil,
            presence_penalty: Float? = nil,
            logprobs: Bool = false,
            top_logprobs: Int = 0,
            logit_bias: [Int: Float]? = nil,
            max_tokens: Int? = nil,
            n: Int = 1,
            seed: Int? = nil,
            stop: [String]? = nil,
            stream: Bool = true,
            stream_options: StreamOptions? = nil,
            temperature: Float? = nil,
            top_p: Float? = nil
        ) async -> AsyncStream<ChatCompletionStreamResponse> {
            fatalError("MLCSwift stub")
        }
    }

    public class Chat {
        public let completions = Completions()
    }

    public let chat = Chat()

    public init() {}

    public func reload(modelPath: String, modelLib: String) async {
        fatalError("MLCSwift stub")
    }

    public func reset() async {
        fatalError("MLCSwift stub")
    }

    public func unload() async {
        fatalError("MLCSwift stub")
    }
}
