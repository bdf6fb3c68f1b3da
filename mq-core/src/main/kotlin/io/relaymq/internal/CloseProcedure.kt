package io.relaymq.internal

import io.relaymq.CloseSummary
import io.relaymq.Message
import io.relaymq.QueueCloseSummary
import io.relaymq.ShutdownMode
import io.relaymq.SnapshotException
import kotlinx.coroutines.future.await
import kotlinx.coroutines.withTimeoutOrNull

private val logger = relayLogger("io.relaymq.internal.CloseProcedure")

/**
 * Closing a bus, from the moment publishing stops to the summary. [Bus.close] has already refused
 * public publishes on every queue ([QueueEngine.closeForPublishing]: later publishes and publishers
 * waiting for room fail with `BusClosedException`); then:
 *
 * 1. **Wait, up to the drain timeout.** Drain mode (no snapshot directory, or
 *    [ShutdownMode.DRAIN_THEN_SNAPSHOT]): paused queues are resumed, and the close waits until every
 *    queue has settled: every accepted message ended, delayed ones and retries included. Snapshot mode
 *    ([ShutdownMode.SNAPSHOT_IMMEDIATELY] with a directory): consumers finish the message they handle
 *    and stop; the close waits for them.
 * 2. **Take what is left** ([QueueEngine.takeAll]), queue by queue in [drainOrder]: a queue before the
 *    queue that receives its dead letters, so that letters routed while the source drains still land
 *    in a queue that takes them. Messages in handlers at the deadline are taken over (cancelled, Java
 *    blocking handlers interrupted); whatever they do later is ignored. There is no grace period: the
 *    close takes at most the drain timeout plus the time to write snapshots.
 *    A queue on a remote backend stops fetching first: the close drains what this bus took.
 * 3. **Save or give up.** A remote queue's remaining messages go back to its store (released, counted
 *    as saved) for other consumers, and the acknowledgements still queued are sent (within the drain
 *    timeout). A durable queue's remaining messages are in its journal already: they count
 *    as saved, and its journal is forced and closed (after every queue was taken, since a dead letter
 *    may still be journaled into a durable dead-letter queue until then). With a directory, each queue's remaining messages replace its snapshot and
 *    count as saved; a failed write leaves the previous snapshot, logs the ids and makes the close throw
 *    [SnapshotException] (carrying the summary). Without one, they count as abandoned and are logged.
 *    Requests among them fail with `MessageDroppedException`.
 * 4. **Summarise**, release the snapshot directory, wake idle waiters.
 */
internal class CloseProcedure(private val bus: Bus, queues: List<QueueEngine<*>>) {
    private val queues = drainOrder(queues)
    private val processedBefore = queues.associate { it.name to it.processed() }

    suspend fun run(): CloseSummary {
        val store = bus.store
        val snapshotAtOnce = store != null && bus.shutdownMode == ShutdownMode.SNAPSHOT_IMMEDIATELY
        val timedOut = withTimeoutOrNull(bus.drainTimeout) {
            // A remote queue first stops fetching: what this bus already took drains, the rest stays in the store.
            for (link in bus.links()) link.feed.stopFetching(bus.drainTimeout)
            // Bus.close already stopped the consumers (saving at once) or resumed paused queues (draining).
            if (snapshotAtOnce) {
                for (engine in queues) engine.awaitConsumersStopped()
            } else {
                // A publish that passed the closed check just before it closed is accepted: wait it out,
                // or the queues could look settled without its message (then found, and abandoned, below).
                for (engine in queues) engine.awaitPublishersOut()
                bus.idleWatch.future().await()
            }
            true
        } == null

        val summaries = LinkedHashMap<String, QueueCloseSummary>()
        var failure: SnapshotException? = null
        for (engine in queues) {
            @Suppress("UNCHECKED_CAST")
            engine as QueueEngine<Any?>
            val rest = engine.takeAll(bus.drainTimeout)
            val messages = rest.all
            var saved = false
            val snapshots = engine.snapshots
            if (engine.isDurable) {
                // Nothing to write: what did not end is in the journal already, replayed on the next registration.
                saved = true
                if (messages.isNotEmpty()) logger.info { "Queue '${engine.name}': ${messages.size} message(s) stay in its journal" }
            } else if (bus.isRemote) {
                // Nothing to write: the store keeps them; each goes back to it (released) as it is settled below.
                saved = true
                if (messages.isNotEmpty()) logger.info { "Queue '${engine.name}': ${messages.size} message(s) go back to ${bus.remoteBackend} for other consumers" }
            } else if (snapshots != null) {
                try {
                    val written = snapshots.write(messages)
                    saved = true
                    if (written > 0) logger.info { "Queue '${engine.name}': saved $written message(s) to ${snapshots.file}" }
                } catch (e: Exception) {
                    logger.error(e) {
                        "Queue '${engine.name}': writing the snapshot failed; ${messages.size} message(s) NOT saved " +
                            "(ids ${describeIds(messages)}). The previous snapshot file, if any, is untouched."
                    }
                    val error = SnapshotException("Writing the snapshot of queue '${engine.name}' failed: $e", e)
                    if (failure == null) failure = error else failure.addSuppressed(error)
                }
            }
            engine.settle(rest, saved)
            if (!saved && messages.isNotEmpty()) {
                logger.warn {
                    "Queue '${engine.name}': ${messages.size} message(s) abandoned at close (drain timeout ${bus.drainTimeout}), " +
                        "ids ${describeIds(messages)}"
                }
            }
            summaries[engine.name] = QueueCloseSummary(
                queue = engine.name,
                processedDuringClose = engine.processed() - (processedBefore[engine.name] ?: 0),
                saved = if (saved) messages.size.toLong() else 0L,
                abandoned = if (saved) 0L else messages.size.toLong(),
                abandonedIds = if (saved) emptyList() else messages.map { it.id },
            )
        }
        // One deadline for every queue's remaining acknowledgements, not one each.
        val sending = kotlin.time.TimeSource.Monotonic.markNow()
        for (link in bus.links()) link.feed.close((bus.drainTimeout - sending.elapsedNow()).coerceAtLeast(kotlin.time.Duration.ZERO))
        for (engine in queues) {
            try {
                engine.closeJournal(bus.drainTimeout)
            } catch (e: Exception) {
                logger.error(e) {
                    "Queue '${engine.name}': forcing its journal at close failed; completions since the last sync may be lost, " +
                        "so some processed messages may be delivered again on the next start"
                }
            }
        }
        // Summaries in registration order, whatever order the queues were drained in.
        val ordered = LinkedHashMap<String, QueueCloseSummary>()
        for (engine in bus.queues()) summaries[engine.name]?.let { ordered[engine.name] = it }
        val summary = CloseSummary(ordered, timedOut = timedOut, snapshotFailure = failure)
        bus.closed()
        logger.info { "RelayMQ closed: $summary" }
        return summary
    }

    private fun describeIds(messages: List<Message<*>>): String {
        val shown = messages.take(MAX_IDS_LOGGED).joinToString(", ") { it.id.toString() }
        return if (messages.size > MAX_IDS_LOGGED) "$shown, ... (${messages.size - MAX_IDS_LOGGED} more)" else shown
    }

    companion object {
        const val MAX_IDS_LOGGED = 50

        /**
         * [queues] with every queue before the queue that receives its dead letters (registration order
         * otherwise). A cycle of dead-letter queues keeps registration order: a letter routed into a
         * queue of the cycle that was already taken is refused and logged.
         */
        fun drainOrder(queues: List<QueueEngine<*>>): List<QueueEngine<*>> {
            val result = LinkedHashSet<QueueEngine<*>>()
            val visiting = HashSet<String>()
            // Depth-first: everything that dead-letters into a queue comes before it.
            val sources = queues.groupBy { it.deadLetterQueue }
            fun visit(engine: QueueEngine<*>) {
                if (engine in result || !visiting.add(engine.name)) return
                for (source in sources[engine.name].orEmpty()) visit(source)
                result += engine
            }
            for (engine in queues) visit(engine)
            return result.toList()
        }
    }
}
