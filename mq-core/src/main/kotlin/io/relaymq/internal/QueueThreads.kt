package io.relaymq.internal

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.asCoroutineDispatcher
import java.util.BitSet
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.ThreadPoolExecutor
import java.util.concurrent.TimeUnit

/**
 * The threads of one queue of blocking (Java) handlers, when the bus has no executor of the user's:
 * daemon threads named `relaymq-<queue>-<n>`, so that a thread dump shows which queue a stuck handler
 * belongs to. `n` is the lowest number no live thread of the queue has, from 1: with `concurrency` 4
 * the threads are `relaymq-mail-1` to `relaymq-mail-4`.
 *
 * A `ThreadPoolExecutor` with as many core threads as maximum ones: it starts a thread per consumer
 * that needs one, never more than [size], and an idle thread ends after [KEEP_ALIVE_SECONDS] (core
 * threads too), so an idle queue holds no thread.
 *
 * ## Size
 * [QueueEngine] keeps [size] equal to the number of the queue's consumers that have not exited. A
 * consumer runs on one thread at a time, so never more than that many threads are busy, and every
 * consumer can always get a thread: none waits for a thread held by another consumer. (A pool of the
 * new concurrency right after a shrink could do that: the retiring consumers still hold their threads,
 * and a close that cancels waiting consumers needs a thread for each to see its cancellation; one held
 * by a handler that ignores interrupts would then stall the close.) So after a shrink the pool shrinks
 * as the retiring consumers exit, and at most `concurrency` threads exist once they have.
 *
 * ## End
 * [shutdown] when the bus has closed (every consumer exited, or lost its message to the close): idle
 * threads end at once, a thread still in a handler that ignores interrupts when that handler returns.
 * [shutdownNow] when the bus crashes for testing. A consumer dispatched after either runs on
 * `Dispatchers.IO` (kotlinx.coroutines' fallback for a rejected dispatch), so nothing is lost.
 */
internal class QueueThreads(private val queue: String, size: Int) {
    private val numbers = BitSet() // guarded by itself: numbers of live threads
    private val pool = ThreadPoolExecutor(size, size, KEEP_ALIVE_SECONDS, TimeUnit.SECONDS, LinkedBlockingQueue(), ::newThread)
        .apply { allowCoreThreadTimeOut(true) }

    /** Where the queue's consumers run. */
    val dispatcher: CoroutineDispatcher = pool.asCoroutineDispatcher()

    /** How many threads the pool may have at once. */
    val size: Int get() = pool.maximumPoolSize

    /** Sets [size] (at least 1); see the class KDoc for the value. Surplus idle threads end at once. */
    fun resize(size: Int) {
        val target = maxOf(1, size)
        // Core never above maximum: the pool refuses that state, so the order depends on the direction.
        if (target > pool.maximumPoolSize) {
            pool.maximumPoolSize = target
            pool.corePoolSize = target
        } else if (target < pool.maximumPoolSize) {
            pool.corePoolSize = target
            pool.maximumPoolSize = target
        }
    }

    fun shutdown() {
        pool.shutdown()
    }

    fun shutdownNow() {
        pool.shutdownNow()
    }

    private fun newThread(task: Runnable): Thread {
        val n = synchronized(numbers) { numbers.nextClearBit(1).also { numbers.set(it) } }
        val thread = Thread({
            try {
                task.run()
            } finally {
                synchronized(numbers) { numbers.clear(n) }
            }
        }, "relaymq-$queue-$n")
        thread.isDaemon = true
        return thread
    }

    override fun toString(): String = "QueueThreads(relaymq-$queue-*, size=$size)"

    private companion object {
        /** How long an idle thread waits for work before it ends. */
        const val KEEP_ALIVE_SECONDS = 60L
    }
}
