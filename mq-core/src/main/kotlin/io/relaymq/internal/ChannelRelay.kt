package io.relaymq.internal

import io.github.oshai.kotlinlogging.KotlinLogging
import io.relaymq.Message
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.coroutines.cancellation.CancellationException

private val logger = KotlinLogging.logger {}

/**
 * The in-memory [MessageTransport]: `inbox` (unlimited channel) -> `buffer` (array deque) -> `outbox`
 * (small bounded channel) -> consumers.
 *
 * ## Invariants
 * 1. Only the relay coroutine touches [buffer] while it runs; [drainUndelivered] touches it only after
 *    the relay has finished (the caller joins the relay first, which gives happens-before).
 * 2. Order is FIFO end to end: inbox order, then buffer order, then outbox order. The relay always
 *    sends `buffer.first()` and removes it only after the send succeeded.
 * 3. The relay suspends only when it can make no progress: on `inbox.receive` when the buffer is empty,
 *    or on `outbox.send` when the outbox is full. Otherwise it moves messages in batches with
 *    `tryReceive`/`trySend`, so a burst costs one wake-up, not one per message.
 * 4. Nothing is lost to cancellation. Messages still in a channel are drained by [drainUndelivered];
 *    a message a channel handed to a coroutine that was cancelled before it could resume
 *    ("prompt cancellation") reaches `onUndeliveredElement` and lands in [stranded]. A cancelled
 *    `outbox.send` may have delivered its element while it is still `buffer.first()`: the same message
 *    can then be both in the outbox and the buffer, which is why callers de-duplicate by id.
 * 5. The relay never uses `select { outbox.onSend(...) }`: a losing `onSend` clause hands its element to
 *    `onUndeliveredElement` although the element was never lost, which would break invariant 4.
 *    While the outbox is full, new messages simply wait in the unlimited inbox.
 * 6. When the inbox is closed and everything has been moved on, the relay closes the outbox, so
 *    consumers see `null` from [take] exactly when every accepted message has been handed out.
 */
internal class ChannelRelay<T>(
    private val queueName: String,
    outboxCapacity: Int,
    private val batchLimit: Int = DEFAULT_BATCH_LIMIT,
) : MessageTransport<T> {
    private val stranded = ConcurrentLinkedQueue<Message<T>>()
    private val inbox = Channel<Message<T>>(Channel.UNLIMITED) { stranded.add(it) }
    private val buffer = ArrayDeque<Message<T>>()
    private val outbox = Channel<Message<T>>(outboxCapacity) { stranded.add(it) }

    override fun offer(message: Message<T>): Boolean = inbox.trySend(message).isSuccess

    override fun start(scope: CoroutineScope): Job =
        scope.launch(CoroutineName("relaymq-relay-$queueName")) {
            try {
                relay()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                // A bug, not a user error: without the relay nothing moves, so stop the consumers loudly.
                // The messages stay in inbox/buffer and are reported as abandoned at close.
                logger.error(e) { "Relay of queue '$queueName' failed; its messages wait until close" }
                outbox.close(e)
            }
        }

    private suspend fun relay() {
        var inboxOpen = true
        while (true) {
            if (inboxOpen) inboxOpen = drainInbox()
            refillOutbox()
            if (buffer.isEmpty()) {
                if (!inboxOpen) break
                val next = inbox.receiveCatching()
                if (next.isClosed) inboxOpen = false else buffer.addLast(next.getOrThrow())
            } else {
                // Outbox full: wait for a consumer. Invariant 2: remove only after the send succeeded.
                outbox.send(buffer.first())
                buffer.removeFirst()
            }
        }
        outbox.close()
    }

    /** Moves up to [batchLimit] messages from inbox to buffer; returns `false` once the inbox is closed. */
    private fun drainInbox(): Boolean {
        var moved = 0
        while (moved < batchLimit) {
            val next = inbox.tryReceive()
            if (next.isSuccess) {
                buffer.addLast(next.getOrThrow())
                moved++
            } else {
                return !next.isClosed
            }
        }
        return true
    }

    private fun refillOutbox() {
        while (buffer.isNotEmpty() && outbox.trySend(buffer.first()).isSuccess) buffer.removeFirst()
    }

    override suspend fun take(): Message<T>? = outbox.receiveCatching().getOrNull()

    override fun closeForPublishing() {
        inbox.close()
    }

    override fun drainUndelivered(): List<Message<T>> {
        val result = ArrayList<Message<T>>()
        while (true) result.add(outbox.tryReceive().getOrNull() ?: break)
        result.addAll(buffer)
        buffer.clear()
        while (true) result.add(inbox.tryReceive().getOrNull() ?: break)
        while (true) result.add(stranded.poll() ?: break)
        return result
    }

    internal companion object {
        /** Messages moved per batch before the relay looks at the outbox again. */
        const val DEFAULT_BATCH_LIMIT: Int = 256
    }
}
