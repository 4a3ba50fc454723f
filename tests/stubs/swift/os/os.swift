// Stand-in for the part of Apple's `os` module generated code uses (not on Linux).
// Signature from the iOS SDK's <os/proc.h> (iOS 13+, API_UNAVAILABLE(macos)):
//   size_t os_proc_available_memory(void);   imported into Swift as `func os_proc_available_memory() -> Int`.
// It returns 0 where no jetsam limit applies (the iOS Simulator): this stand-in does the same, so the
// generated MemoryGuard's fallback is what runs when its iOS branch is compiled here.
public func os_proc_available_memory() -> Int {
    return 0
}
