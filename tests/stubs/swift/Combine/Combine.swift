// Stand-in for the part of Apple's Combine generated app code uses (not on Linux): ObservableObject
// and @Published, as in the iOS 13+ SDK (`protocol ObservableObject: AnyObject`,
// `@propertyWrapper struct Published<Value>` with `init(wrappedValue:)`). The real wrapper publishes
// changes through the enclosing object's objectWillChange; here it only stores the value.
public protocol ObservableObject: AnyObject {}

@propertyWrapper
public struct Published<Value> {
    public var wrappedValue: Value

    public init(wrappedValue: Value) {
        self.wrappedValue = wrappedValue
    }
}
