package io.relaymq.internal

import java.lang.invoke.VarHandle
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicInteger

/**
 * Completes futures when [isIdle] becomes true, at the cost of a fence and one volatile read each time a
 * consumer finds its queue empty, while nobody waits.
 *
 * Lost wake-ups are impossible: a waiter registers (two volatile writes) *then* checks [isIdle]; a
 * consumer updates its counters, fences, *then* reads [waiting]. Under the Java memory model
 * at least one of the two sees the other's writes, so either the waiter sees idleness itself or the
 * consumer sees the waiter and completes it.
 */
internal class IdleWatch(
    private val isIdle: () -> Boolean,
    /** Where waiters are completed: the bus's dispatcher (virtual time in tests), never the caller. */
    private val executor: Executor,
) {
    private val waiters = ConcurrentLinkedQueue<CompletableFuture<Void?>>()
    private val waiting = AtomicInteger()

    /** A future that completes (with `null`) once [isIdle] is observed true. Cancelling it stops waiting. */
    fun future(): CompletableFuture<Void?> {
        if (isIdle()) return CompletableFuture.completedFuture(null)
        val future = CompletableFuture<Void?>()
        waiters.add(future)
        waiting.incrementAndGet()
        future.whenComplete { _, _ -> if (waiters.remove(future)) waiting.decrementAndGet() }
        if (isIdle()) future.complete(null)
        return future
    }

    /** Called after progress that may have made the engine idle (a consumer found its queue empty). */
    fun onProgress() {
        // The caller's last counter update may be a release-only store (ConsumerSlot): fence so that
        // it is visible before we read `waiting` (the Dekker pattern in the class KDoc needs StoreLoad).
        VarHandle.fullFence()
        if (waiting.get() > 0 && isIdle()) {
            // Completed through the executor: a future's dependents run where it is completed, and this is
            // called from consumers and from the close, which must not run (or wait for) user code here.
            for (waiter in waiters) executor.execute { waiter.complete(null) }
        }
    }
}
