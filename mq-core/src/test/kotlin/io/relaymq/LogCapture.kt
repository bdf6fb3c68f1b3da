package io.relaymq

import java.io.ByteArrayOutputStream
import java.io.PrintStream

/**
 * Runs [block] with System.err captured and returns what was written there meanwhile: the log lines
 * (the tests' SLF4J provider, slf4j-simple, writes to whatever System.err is at the time), so that a
 * test provoking errors on purpose can assert them instead of printing their stack traces into the
 * build log. If [block] throws, the captured text is printed to the real stderr first, so a failing
 * test still shows everything that was logged. Tests run one at a time, so nothing else is captured
 * except stray lines of background threads.
 */
internal inline fun capturedLog(block: () -> Unit): String {
    val buffer = ByteArrayOutputStream()
    val original = System.err
    System.setErr(PrintStream(buffer, true, Charsets.UTF_8))
    try {
        block()
    } catch (t: Throwable) {
        System.setErr(original)
        original.println("--- log captured by the failing test ---")
        original.print(buffer.toString(Charsets.UTF_8))
        original.println("--- end of captured log ---")
        throw t
    } finally {
        System.setErr(original)
    }
    return buffer.toString(Charsets.UTF_8)
}
