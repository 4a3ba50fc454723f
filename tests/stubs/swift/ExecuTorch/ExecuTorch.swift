// Stub of ExecuTorch's core Swift API (module "ExecuTorch", SwiftPM product "executorch" of
// https://github.com/pytorch/executorch.git, branch swiftpm-<version>), for type-checking generated code
// on Linux: the part that reads a program's constant methods.
// Read from extension/apple/ExecuTorch/Exported/ExecuTorchModule.h, ExecuTorchError.h and the Swift
// overlay files ExecuTorch+Module.swift, ExecuTorch+Tensor.swift and ExecuTorch+Value.swift, identical at
// tag v1.4.1 (e4d02f41f790) and on main at cff6f4dd32e6 (2026-08-22, version.txt 1.5.0). The module
// exports a type named `Error` (the NS_ERROR_ENUM ExecuTorchErrorCode, NS_SWIFT_NAME(ErrorCode)), which
// shadows Swift's `Error` in a file that imports ExecuTorch: it is kept here so such code must say
// `Swift.Error`.
import Foundation

public let ErrorDomain: String = "org.pytorch.executorch.error"

public struct Error: Swift.Error, Hashable {
    public enum Code: Int {
        case ok = 0
        case `internal` = 1
        case invalidState = 2
        case endOfMethod = 3
        case notSupported = 16
        case notImplemented = 17
        case invalidArgument = 18
        case invalidType = 19
        case operatorMissing = 20
        case registrationExceedingMaxKernels = 21
        case registrationAlreadyRegistered = 22
        case notFound = 32
        case memoryAllocationFailed = 33
        case accessFailed = 34
        case invalidProgram = 35
        case invalidExternalData = 36
        case outOfResources = 37
        case delegateInvalidCompatibility = 48
        case delegateMemoryAllocationFailed = 49
        case delegateInvalidHandle = 50
    }

    public let code: Code

    public init(code: Code) {
        self.code = code
    }
}

/// ExecuTorchModuleLoadMode (NS_SWIFT_NAME(ModuleLoadMode)).
public enum ModuleLoadMode: Int {
    case file = 0
    case mmap
    case mmapUseMlock
    case mmapUseMlockIgnoreErrors
}

/// ExecuTorchValue (NS_SWIFT_NAME(Value)).
public class Value: NSObject {}

public protocol ValueConvertible {
    func asValue() -> Value
}

public protocol ValueSequenceConstructible {
    static func from(_ values: [Value]) throws -> Self
}

/// Element types of `Tensor` (ExecuTorch+Tensor.swift); only the conformance generated code uses.
public protocol Scalar {}

extension UInt8: Scalar {}

public final class Tensor<T: Scalar> {
    public var count: Int {
        fatalError("ExecuTorch stub")
    }

    public func scalars() -> [T] {
        fatalError("ExecuTorch stub")
    }
}

extension Tensor: ValueSequenceConstructible {
    public static func from(_ values: [Value]) throws -> Self {
        fatalError("ExecuTorch stub")
    }
}

/// ExecuTorchModule (NS_SWIFT_NAME(Module)): `initWithFilePath:...` initialisers; the program and a
/// method load on first use when not loaded explicitly.
public class Module: NSObject {
    public init(filePath: String, dataFilePaths: [String], loadMode: ModuleLoadMode) {
        fatalError("ExecuTorch stub")
    }

    public convenience init(filePath: String, dataFilePaths: [String]) {
        fatalError("ExecuTorch stub")
    }

    public convenience init(filePath: String, loadMode: ModuleLoadMode) {
        fatalError("ExecuTorch stub")
    }

    public convenience init(filePath: String) {
        fatalError("ExecuTorch stub")
    }

    public func isLoaded() -> Bool {
        fatalError("ExecuTorch stub")
    }
}

// The execute overloads of ExecuTorch+Module.swift, all of them, so overload resolution here is
// what it is against the real module.
public extension Module {
    func execute(_ method: String, _ inputs: [ValueConvertible]) throws -> [Value] {
        fatalError("ExecuTorch stub")
    }

    func execute(_ method: String, _ inputs: ValueConvertible...) throws -> [Value] {
        fatalError("ExecuTorch stub")
    }

    func execute<Output: ValueSequenceConstructible>(_ method: String, _ inputs: [ValueConvertible]) throws -> Output {
        fatalError("ExecuTorch stub")
    }

    func execute<Output: ValueSequenceConstructible>(_ method: String, _ inputs: ValueConvertible...) throws -> Output {
        fatalError("ExecuTorch stub")
    }

    func execute<Output: ValueSequenceConstructible>(_ method: String, _ input: ValueConvertible) throws -> Output {
        fatalError("ExecuTorch stub")
    }

    func execute<Output: ValueSequenceConstructible>(_ method: String) throws -> Output {
        fatalError("ExecuTorch stub")
    }
}
