// Stand-in for the part of Apple's UIKit the generated app code uses (not on Linux), as in the
// iOS 18 SDK (UIKit/UIApplication.h, UIResponder.h): `@MainActor open class UIResponder: NSObject`,
// `@MainActor open class UIApplication: UIResponder`, and `@MainActor protocol UIApplicationDelegate:
// NSObjectProtocol` with its optional
// `application(_:handleEventsForBackgroundURLSession:completionHandler:)` (iOS 7+), whose
// completion handler is `@escaping () -> Void`. Objective-C optional requirements do not exist in
// Swift on Linux: a protocol extension stands in for "optional". UIKit re-exports Foundation, as here.
@_exported import Foundation

@MainActor
open class UIResponder: NSObject {}

@MainActor
open class UIApplication: UIResponder {}

@MainActor
public protocol UIApplicationDelegate: NSObjectProtocol {
    func application(
        _ application: UIApplication,
        handleEventsForBackgroundURLSession identifier: String,
        completionHandler: @escaping () -> Void
    )
}

extension UIApplicationDelegate {
    public func application(
        _ application: UIApplication,
        handleEventsForBackgroundURLSession identifier: String,
        completionHandler: @escaping () -> Void
    ) {}
}
