package io.relaymq.internal

import java.util.concurrent.atomic.AtomicLong

/**
 * An [AtomicLong] padded to its own cache line. The relay's counters are written by different threads
 * (publishers, the relay, consumers); allocated side by side, unpadded, they would share a cache line
 * and every write would invalidate the others' reads ("false sharing").
 */
@Suppress("unused")
internal class PaddedCounter : AtomicLong() {
    // 7 longs after the value; the next object's header follows, so two counters' values sit >= 64 bytes apart.
    private val p1 = 0L
    private val p2 = 0L
    private val p3 = 0L
    private val p4 = 0L
    private val p5 = 0L
    private val p6 = 0L
    private val p7 = 0L

    // Number's members that Kotlin sees as abstract on AtomicLong.
    override fun toByte(): Byte = get().toByte()

    override fun toShort(): Short = get().toShort()
}
