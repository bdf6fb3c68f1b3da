package io.relaymq.spi

import io.relaymq.QueueBackend
import java.time.Duration

/**
 * A [QueueBackend] that keeps queues outside this JVM, shared by every bus that uses the same store
 * (for example `RedisStreams` in `mq-redis`). This is the seam for backend modules: applications pass a
 * backend to the bus builder and never call these methods themselves.
 *
 * ## What the bus does, and what the backend does
 * The bus keeps its engine: handlers, consumers, pause, concurrency, retries with backoff, dead-letter
 * routing, requests and close. Per queue it publishes through [RemoteQueue.publish], and one feed
 * fetches messages ([RemoteQueue.fetch]) into its local consumers, never more than they can start soon,
 * keeps their claim alive ([RemoteQueue.extend]) while this JVM holds them, and ends each with
 * [RemoteQueue.acknowledge] (final outcome: success, final failure after its dead letter was stored) or
 * [RemoteQueue.release] (not handled here: the close, a failed dead letter).
 *
 * ## Contract, for every implementation
 * - At-least-once: a published message is handed out until it is acknowledged; one held by a consumer
 *   that stops extending its claim for [visibilityTimeout] is handed to another.
 * - Every call is bounded in time: a store that cannot be reached fails the returned future (or throws)
 *   within the backend's own timeout, never hangs.
 * - A backend serves one bus ([attach] refuses a second).
 */
public interface RemoteBackend : QueueBackend {
    /** How long a message handed to a consumer stays its own without [RemoteQueue.extend]. */
    public fun visibilityTimeout(): Duration

    /**
     * Called once by the bus that takes this backend, at build time.
     * @throws IllegalStateException when another bus already uses this backend.
     */
    public fun attach()

    /**
     * Opens (creating it when needed) queue [name], whose capacity is [capacity] messages cluster-wide
     * (`Int.MAX_VALUE`: unbounded; publishing into a full queue fails with `QueueFullException`).
     * Blocks for at most the backend's timeout.
     * @throws IllegalArgumentException when the backend cannot honour the request, saying why.
     * @throws io.relaymq.BackendException when the store cannot be reached.
     */
    public fun openQueue(name: String, capacity: Int): RemoteQueue

    /**
     * Starts receiving the outcomes of this bus's requests and returns the address that other buses
     * send them to ([RemoteQueue.reply]). Called at most once, before the first request.
     */
    public fun openReplies(listener: ReplyListener): String

    /** Stops everything (fetches waiting, reply listener) and closes the connections. Idempotent. */
    public fun close()
}
