package io.relaymq.spi

import java.time.Duration
import java.util.concurrent.CompletableFuture

/**
 * One queue of a [RemoteBackend], as seen by one bus. Every method returns at once; the futures
 * complete on the backend's threads, and fail with
 * [io.relaymq.BackendException] when the store cannot be reached within the backend's timeout.
 */
public interface RemoteQueue {
    /**
     * Stores [message] and completes with its id, unique and increasing per queue across every bus,
     * once the store accepted it (a [RemoteMessage.dueAtMillis] in the future waits in the store until
     * then). Calls made one after another by one thread are stored in that order.
     * Fails with `QueueFullException` when the queue is at its capacity. Completes on a thread that may
     * run the caller's dependent stages (a pool thread, never the store's I/O thread): the bus hands
     * this future's outcome to Java callers without another hop.
     */
    public fun publish(message: RemoteMessage): CompletableFuture<Long>

    /**
     * Up to [max] messages for this bus: due delayed ones are made ready first, then messages whose
     * consumer stopped extending its claim are taken over, then ready ones are taken; waits at most
     * [wait] when there are none (completes with an empty list).
     */
    public fun fetch(max: Int, wait: Duration): CompletableFuture<List<RemoteDelivery>>

    /**
     * Sends [delivery] back for another attempt: atomically, it ends and [next] (the same id, its next
     * attempt, due at [RemoteMessage.dueAtMillis]) waits in the store until due, for any bus to take.
     * Completes with `false` when this bus no longer held it (taken over): nothing was changed.
     */
    public fun retry(delivery: RemoteDelivery, next: RemoteMessage): CompletableFuture<Boolean>

    /** Ends [deliveries] for good: they are removed from the store. */
    public fun acknowledge(deliveries: Collection<RemoteDelivery>): CompletableFuture<Void?>

    /** Gives [deliveries] back unhandled: other consumers (or this one) may take them at once. */
    public fun release(deliveries: Collection<RemoteDelivery>): CompletableFuture<Void?>

    /**
     * Renews this bus's claim on [deliveries] for another visibility timeout. Completes with those it
     * no longer holds (taken over by another consumer after a timeout).
     */
    public fun extend(deliveries: Collection<RemoteDelivery>): CompletableFuture<Collection<RemoteDelivery>>

    /** Sends a request's [outcome] to the bus listening at [address] (see [RemoteBackend.openReplies]). */
    public fun reply(address: String, correlation: Long, outcome: ByteArray): CompletableFuture<Void?>

    /** The queue's figures across every bus, read from the store now. */
    public fun figures(): CompletableFuture<RemoteQueueFigures>
}
