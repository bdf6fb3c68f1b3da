package io.relaymq

/**
 * A snapshot could not be used: its directory is locked by another bus, a snapshot file is corrupt or
 * unreadable (with `strictSnapshots`), or writing the snapshot on close failed. The message says which
 * file and what to do; for a failed write, [summary] tells what close did with each queue.
 */
public class SnapshotException(
    message: String,
    cause: Throwable? = null,
    /** For a failure while closing: what the close did, including how many messages were not saved. */
    @get:JvmName("summary") public val summary: CloseSummary? = null,
) : RuntimeException(message, cause)
