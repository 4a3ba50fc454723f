// Stub of ExecuTorch's LLM runner API as Swift sees it (module "ExecuTorchLLM", SwiftPM product
// "executorch_llm" of https://github.com/pytorch/executorch.git, branch swiftpm-<version>), for
// type-checking generated code on Linux.
// Read from the Objective-C headers extension/llm/apple/ExecuTorchLLM/Exported/ExecuTorchLLMTextRunner.h,
// ExecuTorchLLMConfig.h and ExecuTorchLLMError.h, identical at tag v1.4.1 (e4d02f41f790) and on main at
// cff6f4dd32e6 (2026-08-22, version.txt 1.5.0: the line the 1.5.x releases come from); the swiftpm-1.5.1
// branch itself was not in the mirror read. Swift names come from the headers' NS_SWIFT_NAME and the
// Clang importer's rules: `loadWithError:` -> `load() throws`, `generateWithPrompt:config:tokenCallback:error:`
// -> `generate(_:_:tokenCallback:) throws` (NS_SWIFT_NAME), BOOL properties with an `is...` getter keep
// the getter's name. Both classes carry `deprecated("This API is experimental.")`, reproduced here so
// the same warnings show. The multimodal runner is left out: generated code does not use it.
import Foundation

/// ExecuTorchLLMErrorDomain (NS_SWIFT_NAME(ErrorDomain)): the domain of the runner's NSErrors, whose
/// code is the ExecuTorch runtime's error code.
public let ErrorDomain: String = "org.pytorch.executorch.llm.error"

@available(*, deprecated, message: "This API is experimental.")
public final class Config: NSObject, NSCopying {
    public var isEchoEnabled: Bool = true
    public var maximumNewTokens: Int = -1
    public var isWarming: Bool = false
    public var sequenceLength: Int = -1
    public var temperature: Double = 0.8
    public var bosCount: Int = 0
    public var eosCount: Int = 0

    /// `initWithBlock:` (NS_SWIFT_NAME(init(_:))); the block is NS_NOESCAPE.
    public init(_ block: (Config) -> Void) {
        fatalError("ExecuTorchLLM stub")
    }

    public func copy(with zone: NSZone? = nil) -> Any {
        fatalError("ExecuTorchLLM stub")
    }
}

/// ExecuTorchLLMTextRunner (NS_SWIFT_NAME(TextRunner)); `init` and `new` are unavailable.
@available(*, deprecated, message: "This API is experimental.")
public class TextRunner: NSObject {
    public convenience init(modelPath: String, tokenizerPath: String) {
        fatalError("ExecuTorchLLM stub")
    }

    public init(modelPath: String, tokenizerPath: String, specialTokens: [String]) {
        fatalError("ExecuTorchLLM stub")
    }

    public func isLoaded() -> Bool {
        fatalError("ExecuTorchLLM stub")
    }

    public func load() throws {
        fatalError("ExecuTorchLLM stub")
    }

    /// Blocks the calling thread until generation ends; `tokenCallback` runs on that thread, once
    /// per decoded token (an NSString made from the token's bytes).
    public func generate(_ prompt: String, _ config: Config, tokenCallback callback: ((String) -> Void)?) throws {
        fatalError("ExecuTorchLLM stub")
    }

    public func stop() {
        fatalError("ExecuTorchLLM stub")
    }

    public func reset() {
        fatalError("ExecuTorchLLM stub")
    }
}
