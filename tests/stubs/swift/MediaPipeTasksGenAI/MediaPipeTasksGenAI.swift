// Stub of MediaPipe's LLM Inference Swift API (pod MediaPipeTasksGenAI), for type-checking on Linux.
// Signatures read from google-ai-edge/mediapipe v0.10.32 (commit 8317ba78778738ba90a521e7e4580a2ba0129c81),
// mediapipe/tasks/ios/genai/inference/sources/LlmInference.swift and LlmInference+Session.swift: the
// last tag that holds these sources (v0.10.33 removed them from the repository). Sampling (topk,
// topp, temperature) is on Session.Options; LlmInference.Options has only maxTopk.
// The real classes are NSObject subclasses exposed to Objective-C; plain classes here (no ObjC on Linux).
import Foundation

public final class LlmInference {
    public init(options: Options) throws {
        fatalError("MediaPipe stub")
    }

    public convenience init(modelPath: String) throws {
        try self.init(options: Options(modelPath: modelPath))
    }

    public func generateResponse(inputText: String) throws -> String {
        fatalError("MediaPipe stub")
    }

    public func generateResponseAsync(inputText: String) -> AsyncThrowingStream<String, Error> {
        fatalError("MediaPipe stub")
    }
}

extension LlmInference {
    public enum LlmPreferredBackend: Int32 {
        case defaultBackend = 0
        case gpu
        case cpu
    }

    public final class Options {
        public var modelPath: String
        public var preferredBackend: LlmPreferredBackend = .defaultBackend
        public var maxTokens: Int = 512
        public var maxImages: Int = 0
        public var maxTopk: Int = 40
        public var supportedLoraRanks: [Int] = []

        public init(modelPath: String) {
            self.modelPath = modelPath
        }
    }
}

extension LlmInference {
    public final class Session {
        public init(llmInference: LlmInference, options: Options) throws {
            fatalError("MediaPipe stub")
        }

        public convenience init(llmInference: LlmInference) throws {
            try self.init(llmInference: llmInference, options: Options())
        }

        public func addQueryChunk(inputText: String) throws {
            fatalError("MediaPipe stub")
        }

        public func generateResponse() throws -> String {
            fatalError("MediaPipe stub")
        }

        public func generateResponseAsync() -> AsyncThrowingStream<String, Error> {
            fatalError("MediaPipe stub")
        }

        public func sizeInTokens(text: String) throws -> Int {
            fatalError("MediaPipe stub")
        }

        public func cancelGenerateResponseAsync() throws {
            fatalError("MediaPipe stub")
        }
    }
}

extension LlmInference.Session {
    public final class Options {
        public var topk: Int = 40
        public var topp: Float = 1.0
        public var temperature: Float = 0.8
        public var randomSeed: Int = 0
        public var loraPath: String?

        public init() {}
    }
}
