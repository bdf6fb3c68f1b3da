package io.relaymq.test

import io.relaymq.Message
import io.relaymq.MessageHandler
import java.util.concurrent.TimeoutException
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

/**
 * A handler that records every message it receives, in arrival order, then runs [then] (if any): what a
 * test needs to see what a queue delivered and to wait for it.
 *
 * Java: `RecordingHandler<String> mail = new RecordingHandler<>(); bus.registerQueue("mail", 4, mail);`
 * then `mail.awaitCount(3, Duration.ofSeconds(10))`. Kotlin: `mq.registerQueue<String>("mail") {
 * mail.handle(it) }`. A handler that should fail after recording (to test retries or dead letters)
 * passes [then]: `new RecordingHandler<>(m -> { throw new IOException("down"); })`.
 *
 * Thread-safe; a message is recorded before [then] runs, once per delivery (a retried message appears
 * once per attempt).
 *
 * @param then what to do after recording each message; `null` to do nothing.
 */
public class RecordingHandler<T> @JvmOverloads constructor(
    private val then: MessageHandler<T>? = null,
) : MessageHandler<T> {
    private val lock = ReentrantLock()
    private val arrived = lock.newCondition()
    private val received = ArrayList<Message<T>>()

    override fun handle(message: Message<T>) {
        lock.withLock {
            received.add(message)
            arrived.signalAll()
        }
        then?.handle(message)
    }

    /** The messages received so far, in arrival order (a copy). */
    public fun messages(): List<Message<T>> = lock.withLock { received.toList() }

    /** The payloads received so far, in arrival order (a copy). */
    public fun payloads(): List<T> = lock.withLock { received.map { it.data } }

    /** How many messages were received so far. */
    public fun count(): Int = lock.withLock { received.size }

    /**
     * Blocks until at least [count] messages were received, and returns the messages received by then.
     * Meant for tests on real threads (for Kotlin tests on virtual time, use `MQ.awaitIdle()`).
     *
     * @throws TimeoutException when [timeout] elapses first; its message lists what did arrive.
     * @throws InterruptedException when the waiting thread is interrupted.
     * @throws IllegalArgumentException for a negative [count] or [timeout].
     */
    @Throws(TimeoutException::class, InterruptedException::class)
    public fun awaitCount(count: Int, timeout: java.time.Duration): List<Message<T>> {
        require(count >= 0) { "count must not be negative, was $count" }
        require(!timeout.isNegative) { "timeout must not be negative, was $timeout" }
        val deadline = System.nanoTime() + timeout.toNanos()
        lock.withLock {
            while (received.size < count) {
                val left = deadline - System.nanoTime()
                if (left <= 0) {
                    throw TimeoutException(
                        "Waited $timeout for $count message(s), received ${received.size}: " +
                            received.joinToString(limit = 20) { "${it.queue}#${it.id}" },
                    )
                }
                arrived.awaitNanos(left)
            }
            return received.toList()
        }
    }

    override fun toString(): String = "RecordingHandler(received=${count()})"
}
