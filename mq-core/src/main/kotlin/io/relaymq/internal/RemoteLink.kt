package io.relaymq.internal

import io.relaymq.ClusterStats
import io.relaymq.MessageCodec
import io.relaymq.QueueStats
import io.relaymq.spi.RemoteQueue
import java.time.Instant
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.LongAdder

private val logger = relayLogger("io.relaymq.internal.RemoteLink")

/**
 * One queue of a bus on a remote backend: its store ([remote]), the codec its payloads cross with, the
 * [feed] into its local engine, and this bus's publish counters. The engine runs the handlers exactly
 * as for an in-memory queue; this class holds what is about the store.
 */
internal class RemoteLink(
    val name: String,
    val remote: RemoteQueue,
    val codec: MessageCodec<Any?>,
    val feed: RemoteFeed,
    val engine: QueueEngine<Any?>,
    /** How long [stats] waits for the store's figures before it shows the last ones it read. */
    private val figuresWait: java.time.Duration,
    /** `false` for a publish-only queue: its feed never starts, this bus runs none of its messages. */
    val consumes: Boolean = true,
) {
    /** Publishes of this bus the store accepted. */
    val published = LongAdder()

    /** Publishes of this bus the store refused (full) or that failed (store unreachable). */
    val rejected = LongAdder()

    @Volatile private var lastFigures: ClusterStats? = null

    /**
     * The engine's counters (what this bus's consumers did), with this bus's publishes and the store's
     * figures across every bus ([QueueStats.cluster]): read now, or the last ones read when the store
     * does not answer within [figuresWait].
     */
    fun stats(): QueueStats {
        val local = engine.stats()
        val cluster = try {
            val figures = remote.figures().get(figuresWait.toMillis(), TimeUnit.MILLISECONDS)
            ClusterStats(figures.length, figures.pending, figures.lag, figures.delayed, figures.consumers, Instant.now()).also { lastFigures = it }
        } catch (e: InterruptedException) {
            Thread.currentThread().interrupt()
            lastFigures
        } catch (e: Exception) {
            logger.debug(e) { "Queue '$name': reading the store's figures failed" }
            lastFigures
        }
        return QueueStats(
            queue = local.queue,
            concurrency = local.concurrency,
            published = published.sum(),
            delivered = local.delivered,
            succeeded = local.succeeded,
            failed = local.failed + feed.undecodable.sum(),
            abandoned = local.abandoned,
            saved = local.saved,
            pending = local.pending,
            inFlight = local.inFlight,
            rejected = rejected.sum(),
            dropped = local.dropped,
            withdrawn = local.withdrawn,
            retried = local.retried,
            deadLettered = local.deadLettered,
            delayed = local.delayed,
            waitingForKey = local.waitingForKey,
            paused = local.paused,
            capacity = capacityOf(),
            cluster = cluster,
        )
    }

    /** The capacity the store enforces (set at registration). */
    @Volatile var capacity: Int = UNBOUNDED_CAPACITY

    private fun capacityOf(): Int = capacity

    /** The store holds nothing of this queue any more (nothing ready, handed out or delayed), as read now. */
    fun isEmptyInStore(): Boolean = try {
        remote.figures().get(figuresWait.toMillis(), TimeUnit.MILLISECONDS).length == 0L
    } catch (e: InterruptedException) {
        Thread.currentThread().interrupt()
        false
    } catch (e: Exception) {
        false
    }
}
