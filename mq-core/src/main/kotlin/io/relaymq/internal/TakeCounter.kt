package io.relaymq.internal

import java.util.concurrent.atomic.AtomicLongFieldUpdater

/**
 * How many messages one consumer took from its queue's [ChannelRelay]: a single-writer counter (the
 * consumer coroutine, one thread at a time), published with a release store. A shared atomic counted
 * by every consumer on every take would be written by all of them and read by every publisher (the
 * direct path's room check); this one costs a plain store, and the relay sums the counters only when
 * it needs the total ([ChannelRelay.takesSum]).
 *
 * Padded in front ([CacheLinePadding]): a queue's consumer slots are allocated side by side, and each
 * consumer writes its own slot on every message.
 */
internal open class TakeCounter : CacheLinePadding() {
    @Volatile @JvmField internal var taken: Long = 0L

    fun countTake() {
        TAKEN.lazySet(this, taken + 1)
    }
}

/** 64 bytes of fields laid out before a subclass's own fields (the JVM puts superclass fields first). */
@Suppress("unused")
internal open class CacheLinePadding {
    private val p0 = 0L
    private val p1 = 0L
    private val p2 = 0L
    private val p3 = 0L
    private val p4 = 0L
    private val p5 = 0L
    private val p6 = 0L
    private val p7 = 0L
}

private val TAKEN: AtomicLongFieldUpdater<TakeCounter> = AtomicLongFieldUpdater.newUpdater(TakeCounter::class.java, "taken")
