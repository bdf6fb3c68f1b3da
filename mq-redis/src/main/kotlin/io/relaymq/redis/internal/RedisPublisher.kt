package io.relaymq.redis.internal

import io.lettuce.core.ScriptOutputType
import io.relaymq.BackendException
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Publishes of one queue, sent in batches: each call to the PUBLISH script carries every message that
 * arrived while the previous one was on its way (at most [MAX_BATCH]), so concurrent publishers share
 * one round trip and one script call, as a group commit does.
 *
 * ## Invariants
 * - One batch in flight at a time, formed and sent in arrival order: the stream receives one thread's
 *   publishes in the order it made them.
 * - Futures complete on the backend's completion threads (a cached pool, never Lettuce's I/O thread
 *   or the bus's dispatcher), one task per batch: a caller's stage that blocks delays the other
 *   publishes of its batch (use the `...Async` stages for blocking work), never later batches.
 * - Every publish's future completes within the timeout (plus one sweep period), whatever Redis does:
 *   the sweeper fails publishes older than the timeout, queued or in flight (those in flight may still
 *   be stored: the error says so). A queued one that failed is never sent.
 */
internal class RedisPublisher(
    private val backend: RedisBackend,
    private val keys: Array<ByteArray>,
    private val capacity: Int,
    private val fail: (Throwable) -> Throwable,
    private val full: () -> Throwable,
) {
    private class Pending(val due: ByteArray, val record: ByteArray, val future: CompletableFuture<Long>) {
        val since: Long = System.nanoTime()
    }

    private val queue = ConcurrentLinkedQueue<Pending>()
    private val sending = AtomicBoolean()
    @Volatile private var inFlight: List<Pending> = emptyList()
    private val capacityArg = (if (capacity == Int.MAX_VALUE) 0 else capacity).toString().toByteArray()
    private val timeoutNanos = backend.timeout.toNanos()
    private val scripts = ScriptRunner(backend)
    private val completions = backend.completions

    // On a thread of its own, not the bus's dispatcher: a caller's blocking stage cannot stop it.
    private val sweeper = backend.timer.scheduleWithFixedDelay(
        { sweep() }, SWEEP_MILLIS, SWEEP_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS,
    )
    private val SWEEP_MILLIS: Long get() = minOf(250L, maxOf(10L, backend.timeout.toMillis() / 4))

    fun publish(dueAtMillis: Long, record: ByteArray): CompletableFuture<Long> {
        val due = if (dueAtMillis == 0L) NOW else dueAtMillis.toString().toByteArray()
        val pending = Pending(due, record, CompletableFuture())
        queue.add(pending)
        if (sending.compareAndSet(false, true)) send()
        return pending.future
    }

    /** Sends the next batch; called by whoever holds [sending], which it keeps until the batch is answered. */
    private fun send() {
        val batch = ArrayList<Pending>()
        var bytes = 0L
        // At most MAX_BATCH messages and (but for a single larger one) MAX_BATCH_BYTES: one script call
        // blocks Redis while it runs, and a huge command would sit in both processes' buffers.
        while (batch.size < MAX_BATCH) {
            val next = queue.peek() ?: break
            if (batch.isNotEmpty() && bytes + next.record.size > MAX_BATCH_BYTES) break
            queue.poll()
            if (next.future.isDone) continue // failed by the sweeper while queued: never sent
            batch += next
            bytes += next.record.size
        }
        if (batch.isEmpty()) {
            sending.set(false)
            // A publish that came after the poll and before the flag was cleared would be stranded.
            if (queue.isNotEmpty() && sending.compareAndSet(false, true)) send()
            return
        }
        inFlight = batch
        val args = arrayOfNulls<ByteArray>(1 + 2 * batch.size)
        args[0] = capacityArg
        for (i in batch.indices) {
            args[1 + 2 * i] = batch[i].due
            args[2 + 2 * i] = batch[i].record
        }
        val answer = try {
            @Suppress("UNCHECKED_CAST")
            scripts.run<List<Any?>>(RedisScripts.PUBLISH, ScriptOutputType.MULTI, keys, *(args as Array<ByteArray>))
        } catch (e: Exception) {
            CompletableFuture.failedFuture(e)
        }
        answer.whenComplete { ids, e ->
            inFlight = emptyList()
            // Callers' dependent stages run where their futures complete: one task per batch on a pool
            // thread, never Lettuce's I/O thread (a blocking stage there would stall every command).
            complete {
                if (e != null) {
                    val failure = fail(e)
                    for (pending in batch) pending.future.completeExceptionally(failure)
                } else {
                    for (i in batch.indices) {
                        val id = (ids[i] as Number).toLong()
                        if (id < 0) batch[i].future.completeExceptionally(full()) else batch[i].future.complete(id)
                    }
                }
            }
            send()
        }
    }

    private fun sweep() {
        val now = System.nanoTime()
        for (pending in inFlight) expire(pending, now)
        for (pending in queue) if (!expire(pending, now)) break // oldest first: the rest are younger
    }

    private fun expire(pending: Pending, now: Long): Boolean {
        if (now - pending.since < timeoutNanos) return false
        if (!pending.future.isDone) complete { fail(pending) }
        return true
    }

    /** Runs [task] on the completion threads, or here once they are shut down (the backend closed). */
    private fun complete(task: Runnable) {
        try {
            completions.execute(task)
        } catch (e: java.util.concurrent.RejectedExecutionException) {
            task.run()
        }
    }

    private fun fail(pending: Pending) {
        pending.future.completeExceptionally(
            BackendException(
                "${backend.describe()} did not store the message within ${backend.timeout} (publishTimeout); is it up and reachable? " +
                    "It may still be stored if Redis received it.",
            ),
        )
    }

    /**
     * Waits until every publish made so far was answered (stored or failed), at most [timeoutMillis]:
     * the bus closes its connections only after that, so a publish made before the close is not cut off.
     */
    fun awaitSent(timeoutMillis: Long) {
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while ((queue.isNotEmpty() || sending.get()) && System.nanoTime() < deadline) Thread.sleep(2)
    }

    fun close() {
        sweeper.cancel(false)
    }

    private companion object {
        const val MAX_BATCH = 512
        const val MAX_BATCH_BYTES = 4L * 1024 * 1024

        /** The due time of a message due at once (most of them): one array, not one per publish. */
        val NOW = "0".toByteArray()
    }
}
