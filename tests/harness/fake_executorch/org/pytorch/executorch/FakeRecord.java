package org.pytorch.executorch;

import java.util.ArrayList;
import java.util.List;

/**
 * What the fakes saw that the real runtime would not survive (a module closed mid-call, a call
 * after close, two calls at once): the harness prints these and fails on any. Public so the
 * harness (another package) can read it; not part of ExecuTorch's API.
 */
public final class FakeRecord {
    private static final List<String> VIOLATIONS = new ArrayList<>();
    private static final List<String> EVENTS = new ArrayList<>();

    private FakeRecord() {}

    public static synchronized void violation(String what) {
        VIOLATIONS.add(what + " [thread " + Thread.currentThread().getName() + "]");
    }

    public static synchronized void event(String what) { EVENTS.add(what); }

    /** The violations since the last call, cleared. */
    public static synchronized List<String> takeViolations() {
        List<String> taken = new ArrayList<>(VIOLATIONS);
        VIOLATIONS.clear();
        return taken;
    }

    /** The events (generate ends, errors thrown) since the last call, cleared. */
    public static synchronized List<String> takeEvents() {
        List<String> taken = new ArrayList<>(EVENTS);
        EVENTS.clear();
        return taken;
    }
}
