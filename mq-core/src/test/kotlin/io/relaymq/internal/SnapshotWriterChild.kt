package io.relaymq.internal

import io.relaymq.MessageCodec
import java.nio.file.Path

/** The child process of [SnapshotCrashSpec]: rewrites one queue's snapshot forever, a new generation each time. */
object SnapshotWriterChild {
    const val QUEUE: String = "crash"

    /** Generations differ in size, so a mix of two would show in the record count too. */
    fun sizeOf(generation: Int): Int = 20_000 + (generation % 7) * 1_000

    @JvmStatic
    fun main(args: Array<String>) {
        val store = SnapshotStore(Path.of(args[0]), strict = true)
        store.open()
        val snapshots = QueueSnapshots(QUEUE, store, MessageCodec.utf8())
        val now = System.currentTimeMillis()
        val origin = QueueOrigin(QUEUE, now, 0L)
        var generation = 0
        while (true) {
            val messages = List(sizeOf(generation)) { i -> io.relaymq.Message(origin, "$generation:$i", origin.pack(i + 1L, now)) }
            snapshots.write(messages)
            if (generation == 0) {
                println("ready")
                System.out.flush()
            }
            generation++
        }
    }
}
