package io.relaymq.internal

import io.relaymq.QueueBackend

/** The default [QueueBackend]: the bus keeps every queue itself (memory, snapshots, journals). */
internal object InMemoryBackend : QueueBackend {
    override fun toString(): String = "in-memory"
}
